"""SQuAD exact match and F1, as the official v1.1 evaluation script computes them.

Both compare normalised strings (lower case, no punctuation, no articles a/an/the, single
spaces); a prediction scores the best value over the gold answers of its question.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["exact_match", "normalize_answer", "squad_scores", "token_f1"]

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace (official order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Bag-of-tokens F1 between the normalised strings."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(
    predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Exact match and F1 in percent over the questions of `golds` (a missing prediction
    scores 0, as in the official script)."""
    em = f1 = 0.0
    for qid, answers in golds.items():
        pred = predictions.get(qid)
        if pred is None:
            continue
        em += max(exact_match(pred, a) for a in answers)
        f1 += max(token_f1(pred, a) for a in answers)
    n = len(golds)
    return {
        "exact_match": 100.0 * em / n if n else 0.0,
        "f1": 100.0 * f1 / n if n else 0.0,
        "count": n,
    }
