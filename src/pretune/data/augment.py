"""Text augmentation: small random edits that keep a text's label (pure functions).

Each function takes words (or a text) and a `random.Random`, so results are reproducible:
random deletion, swap and insertion of words (EDA, Wei & Zou 2019, without the thesaurus),
word masking and character noise (typos). `augment_text` applies one randomly chosen edit.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence

__all__ = [
    "OPERATIONS",
    "augment_text",
    "char_noise",
    "random_deletion",
    "random_insertion",
    "random_mask",
    "random_swap",
]


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    """Drop each word with probability p (at least one word always stays)."""
    kept = [w for w in words if rng.random() >= p]
    return kept or ([rng.choice(words)] if words else [])


def random_swap(words: list[str], p: float, rng: random.Random) -> list[str]:
    """Swap round(p * n) random pairs of words (at least one when p > 0 and n > 1)."""
    words = list(words)
    if len(words) < 2 or p <= 0:
        return words
    for _ in range(max(1, round(p * len(words)))):
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    return words


def random_insertion(words: list[str], p: float, rng: random.Random) -> list[str]:
    """Insert round(p * n) copies of the text's own words at random places (no thesaurus)."""
    words = list(words)
    if not words or p <= 0:
        return words
    for _ in range(max(1, round(p * len(words)))):
        words.insert(rng.randrange(len(words) + 1), rng.choice(words))
    return words


def random_mask(words: list[str], p: float, rng: random.Random, mask: str = "[MASK]") -> list[str]:
    """Replace each word with `mask` with probability p."""
    return [mask if rng.random() < p else w for w in words]


def _typo(word: str, rng: random.Random) -> str:
    if not word:
        return word
    i = rng.randrange(len(word))
    kind = rng.choice(("delete", "insert", "replace", "swap"))
    letter = rng.choice(string.ascii_lowercase)
    if kind == "delete" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == "insert":
        return word[:i] + letter + word[i:]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + letter + word[i + 1 :]


def char_noise(text: str, p: float, rng: random.Random) -> str:
    """Give each word, with probability p, one typo (a character deleted, inserted, replaced or
    two swapped): text a person can still read."""
    return " ".join(_typo(w, rng) if rng.random() < p else w for w in text.split(" "))


OPERATIONS = ("delete", "swap", "insert", "mask", "char")


def augment_text(
    text: str, p: float, rng: random.Random, ops: Sequence[str] = OPERATIONS, mask: str = "[MASK]"
) -> str:
    """Apply one edit, chosen at random from `ops`, at rate p.

    Raises:
        ValueError: an unknown operation name.
    """
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; choose from {list(OPERATIONS)}")
    op = rng.choice(list(ops))
    if op == "char":
        return char_noise(text, p, rng)
    words = text.split()
    if op == "delete":
        words = random_deletion(words, p, rng)
    elif op == "swap":
        words = random_swap(words, p, rng)
    elif op == "insert":
        words = random_insertion(words, p, rng)
    else:
        words = random_mask(words, p, rng, mask)
    return " ".join(words)
