"""The two name heuristics of docs/tasks/qa.md on the BBC cloze test split, no model:

    python benchmarks/qa_heuristics.py            # a few seconds; prints EM / F1 of each

The test split is the one `pretune qa data.val_fraction=0.03` (run D of the page) tests on:
the same builder, seed and split (`prepare_qa_data`). Names are found with the regular
expression of the cloze builder (`data/squad.py`), so the heuristics see the candidates the
questions were made from.
"""

from __future__ import annotations

from collections import Counter

from pretune.catalog import load_recipe_config
from pretune.data.squad import _COMMON, _NAME, QAExample
from pretune.metrics.squad import squad_scores
from pretune.recipes.qa import prepare_qa_data


def _names(ex: QAExample) -> list[str]:
    return [m.group() for m in _NAME.finditer(ex.context) if m.group() not in _COMMON]


def first_capitalised_name(ex: QAExample) -> str:
    names = _names(ex)
    return names[0] if names else ""


def most_frequent_name_not_in_question(ex: QAExample) -> str:
    counts = Counter(name for name in _names(ex) if name not in ex.question)
    return counts.most_common(1)[0][0] if counts else ""


def main() -> None:
    test = prepare_qa_data(load_recipe_config("qa", None, ["data.val_fraction=0.03"]))["test"]
    golds = {ex.id: ex.answers for ex in test}
    for heuristic in (first_capitalised_name, most_frequent_name_not_in_question):
        scores = squad_scores({ex.id: heuristic(ex) for ex in test}, golds)
        print(f"{heuristic.__name__}: EM {scores['exact_match']:.1f} / F1 {scores['f1']:.1f} "
              f"({scores['count']} test questions)")  # fmt: skip


if __name__ == "__main__":
    main()
