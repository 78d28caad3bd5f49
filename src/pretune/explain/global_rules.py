"""Global explanations: a readable surrogate of the model, and its most influential words.

- Rule extraction: a shallow decision tree on bag-of-words features is fit to mimic the
  model's *predictions* (not the gold labels) on part of the texts; its fidelity is its agreement
  with the model on the held-out rest.
- Influential words: integrated-gradients word scores for the predicted class, averaged per class
  over a set of texts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

__all__ = ["Rules", "extract_rules", "influential_words"]


@dataclass
class Rules:
    """The surrogate tree as text, with its fidelity to the model on held-out texts."""

    text: str
    fidelity: float
    train_fidelity: float
    n_train: int
    n_heldout: int
    depth: int


def extract_rules(
    texts: list[str], predicted: list[str], depth: int = 3, seed: int = 0, max_words: int = 2000
) -> Rules:
    """Fit a depth-`depth` tree on word presence to the model's predicted labels.

    Args:
        texts: the texts the model labelled.
        predicted: the model's label for each text.
        depth: tree depth (rules read as at most `depth` word tests).
        seed: split and tree seed.
        max_words: vocabulary size (most frequent words).
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier, export_text

    if len(texts) < 10:
        raise ValueError(f"rule extraction needs at least 10 texts, got {len(texts)}")
    train_x, test_x, train_y, test_y = train_test_split(
        texts, predicted, test_size=0.3, random_state=seed
    )
    vectorizer = CountVectorizer(binary=True, max_features=max_words, stop_words="english")
    features = vectorizer.fit_transform(train_x)
    tree = DecisionTreeClassifier(max_depth=depth, random_state=seed).fit(features, train_y)
    names = [f'"{w}"' for w in vectorizer.get_feature_names_out()]
    text = export_text(tree, feature_names=names, decimals=1)
    # export_text writes `"word" <= 0.5` / `> 0.5` for absent/present; say it in words.
    text = text.replace(" <= 0.5", " absent").replace(" >  0.5", " present")
    text = text.replace(" > 0.5", " present")
    fidelity = float((tree.predict(vectorizer.transform(test_x)) == test_y).mean())
    train_fidelity = float((tree.predict(features) == train_y).mean())
    return Rules(text, fidelity, train_fidelity, len(train_x), len(test_x), depth)


def influential_words(
    attributions: list[Any], labels: list[str], top: int = 10, min_count: int = 2
) -> dict[str, list[tuple[str, float, int]]]:
    """Per predicted class: (word, mean attribution, count) for the `top` words.

    Args:
        attributions: one `Attribution` per text (its target = the predicted class).
        labels: class names by id.
        top: words per class.
        min_count: ignore words seen fewer times (a single lucky word is noise).
    """
    sums: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for attr in attributions:
        for word, score in zip(attr.words, attr.scores, strict=False):
            sums[attr.target][word.lower()].append(score)
    result = {}
    for target, words in sorted(sums.items()):
        rows = [(w, sum(s) / len(s), len(s)) for w, s in words.items() if len(s) >= min_count]
        rows.sort(key=lambda r: r[1], reverse=True)
        result[labels[target]] = rows[:top]
    return result
