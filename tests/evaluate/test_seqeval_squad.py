"""Entity-level NER scores against the seqeval package, and SQuAD EM/F1 against the official
formulas (hand-computed values)."""

from __future__ import annotations

import random

import pytest

from pretune.metrics.seqeval import entity_scores, get_entities
from pretune.metrics.squad import exact_match, normalize_answer, squad_scores, token_f1

GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ["O", "B-ORG", "I-ORG", "I-ORG", "O", "B-PER"],
    ["B-LOC", "B-LOC", "O", "O"],
]
PRED = [
    ["B-PER", "I-PER", "O", "I-LOC", "O"],  # orphan I-LOC: strict drops it, conlleval keeps it
    ["O", "B-ORG", "I-ORG", "O", "O", "B-PER"],  # ORG cut short: wrong span
    ["B-LOC", "I-LOC", "O", "B-PER"],  # two LOCs merged into one; a spurious PER
]


def test_entities_strict_and_conlleval_by_hand() -> None:
    tags = ["I-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-ORG", "B-ORG", "B-ORG"]
    assert get_entities(tags, "strict") == [("LOC", 3, 5), ("ORG", 6, 7), ("ORG", 7, 8)]
    assert get_entities(tags, "conlleval") == [
        ("PER", 0, 2), ("LOC", 3, 5), ("ORG", 5, 6), ("ORG", 6, 7), ("ORG", 7, 8),
    ]  # fmt: skip


def test_hand_values_strict() -> None:
    s = entity_scores(GOLD, PRED, "strict")
    # gold: PER x2, LOC x3, ORG x1 = 6; pred (strict): PER x3, ORG (short), LOC (merged)
    assert s["entities"] == 6 and s["predicted_entities"] == 5
    # right: PER[0:2] in s0, PER[5:6] in s1 -> 2 hits
    assert s["precision"] == pytest.approx(2 / 5)
    assert s["recall"] == pytest.approx(2 / 6)
    assert s["per_type"]["PER"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert s["per_type"]["LOC"]["f1"] == 0.0


@pytest.mark.parametrize("mode", ["strict", "conlleval"])
def test_matches_seqeval_package(mode: str) -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.scheme import IOB2

    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(200)]
    gold += GOLD
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in g] for g in gold[:-3]]
    pred += PRED
    kwargs = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    ours = entity_scores(gold, pred, mode)  # type: ignore[arg-type]
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred, **kwargs))
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred, **kwargs))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred, **kwargs))
    report = seqeval.classification_report(gold, pred, output_dict=True, **kwargs)
    for kind, scores in ours["per_type"].items():
        assert scores["f1"] == pytest.approx(report[kind]["f1-score"])
        assert scores["precision"] == pytest.approx(report[kind]["precision"])
        assert scores["support"] == report[kind]["support"]
    assert ours["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"])


def test_squad_normalisation_and_scores_by_hand() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert exact_match("the Federal Reserve.", "Federal Reserve") == 1.0
    # pred tokens [federal, reserve, bank], gold [federal, reserve]: P 2/3, R 1, F1 0.8
    assert token_f1("Federal Reserve Bank", "the Federal Reserve") == pytest.approx(0.8)
    assert token_f1("nothing alike", "Federal Reserve") == 0.0
    # best over gold answers; a missing prediction scores 0
    scores = squad_scores(
        {"q1": "Paris", "q2": "in London town"},
        {"q1": ["Paris", "paris france"], "q2": ["London"], "q3": ["x"]},
    )
    # q1: EM 1, F1 1; q2: EM 0, F1 = 2*(1/3*1)/(1/3+1) = 0.5; q3: 0
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * 1.5 / 3)


def test_task_metrics_read_only_labelled_positions() -> None:
    import torch

    from pretune.tasks.ner import NerMetrics

    names = ["O", "B-PER", "I-PER"]
    metrics = NerMetrics(names)
    # one row: [CLS] w1 w1' w2 [SEP] pad; labels only at the words' first pieces
    labels = torch.tensor([[-100, 1, -100, 2, -100, -100]])
    logits = torch.zeros(1, 6, 3)
    logits[0, 1, 1] = logits[0, 3, 2] = 5.0  # B-PER, I-PER at the labelled positions
    logits[0, 2, 0] = 9.0  # an unlabelled piece predicting O is ignored
    metrics.update(logits, labels)
    assert metrics.gold == metrics.pred == [["B-PER", "I-PER"]]
    assert metrics.compute()["f1"] == 1.0
