"""Entity-level precision / recall / F1 for IOB2 tag sequences, as seqeval computes them.

An entity counts as found only when its type and its exact word span both match. Two chunking
modes, matching the two modes of the `seqeval` package (tests check both against it):

- "strict" (seqeval `mode="strict", scheme=IOB2`): an entity is `B-X` followed by any number
  of `I-X`; an `I-X` that does not continue an entity of type X is ignored.
- "conlleval" (seqeval's default, the CoNLL-2000 perl script's rule): an `I-X` after `O` or
  after another type starts a new entity, as if it were `B-X`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["CHUNKING", "Chunking", "entity_scores", "get_entities", "repair_iob2"]

Chunking = Literal["strict", "conlleval"]
CHUNKING: tuple[str, ...] = ("strict", "conlleval")


def _split(tag: str) -> tuple[str, str]:
    # "B-PER" -> ("B", "PER"); "O" -> ("O", "")
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, kind = tag.split("-", 1)
    return prefix, kind


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1-style sequences to IOB2: an `I-X` that does not continue an X entity becomes `B-X`."""
    out: list[str] = []
    prev_kind = ""
    for tag in tags:
        prefix, kind = _split(tag)
        if prefix == "I" and kind != prev_kind:
            tag = f"B-{kind}"
        out.append(tag)
        prev_kind = kind if prefix in ("B", "I") else ""
    return out


def get_entities(tags: Sequence[str], mode: Chunking = "strict") -> list[tuple[str, int, int]]:
    """Entities of one sequence as (type, start, end) with `end` exclusive, in order."""
    if mode == "conlleval":
        tags = repair_iob2(tags)
    entities: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tags):
        prefix, kind = _split(tags[i])
        if prefix != "B":
            i += 1
            continue
        end = i + 1
        while end < len(tags) and _split(tags[end]) == ("I", kind):
            end += 1
        entities.append((kind, i, end))
        i = end
    return entities


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: Chunking = "strict"
) -> dict[str, Any]:
    """Micro precision/recall/F1 over all entities, macro F1 over types, and per-type scores.

    Args:
        gold: the true tag sequences (IOB2), one per sentence.
        pred: the predicted sequences, each as long as its gold one.
        mode: "strict" or "conlleval" chunking (see the module docstring).

    Returns:
        {"precision", "recall", "f1", "macro_f1", "accuracy" (token level), "entities" (gold
        count), "per_type": {type: {"precision", "recall", "f1", "support"}}}; types sorted.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sequences but {len(pred)} predicted ones")
    gold_set: set[tuple[int, str, int, int]] = set()
    pred_set: set[tuple[int, str, int, int]] = set()
    correct_tokens = total_tokens = 0
    for n, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sequence {n}: {len(g)} gold tags but {len(p)} predicted")
        gold_set.update((n, *e) for e in get_entities(g, mode))
        pred_set.update((n, *e) for e in get_entities(p, mode))
        correct_tokens += sum(a == b for a, b in zip(g, p, strict=True))
        total_tokens += len(g)
    hits = gold_set & pred_set
    gold_by, pred_by, hit_by = (Counter(e[1] for e in s) for s in (gold_set, pred_set, hits))
    per_type = {}
    for kind in sorted(set(gold_by) | set(pred_by)):
        per_type[kind] = {**_prf(hit_by[kind], pred_by[kind], gold_by[kind])}
        per_type[kind]["support"] = gold_by[kind]
    overall = _prf(len(hits), len(pred_set), len(gold_set))
    # seqeval's macro average runs over the types present in gold or predictions.
    macro = sum(s["f1"] for s in per_type.values()) / len(per_type) if per_type else 0.0
    return {
        **overall,
        "macro_f1": macro,
        "accuracy": correct_tokens / total_tokens if total_tokens else 0.0,
        "entities": len(gold_set),
        "predicted_entities": len(pred_set),
        "per_type": per_type,
    }
