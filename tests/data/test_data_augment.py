"""Text augmentation edits: reproducible, label-preserving, and at the configured rate."""

from __future__ import annotations

import random

import pytest
import torch

from pretune.data.augment import (
    augment_text,
    char_noise,
    random_deletion,
    random_insertion,
    random_mask,
    random_swap,
)

WORDS = ["the", "match", "ended", "with", "a", "late", "goal", "from", "the", "young", "striker"]


def test_deletion_rate_and_never_empty():
    kept = random_deletion(WORDS * 50, 0.2, random.Random(0))
    assert 0.7 < len(kept) / (len(WORDS) * 50) < 0.9
    assert random_deletion(["only"], 0.99, random.Random(0)) == ["only"]


def test_swap_and_insert_keep_the_words():
    swapped = random_swap(WORDS, 0.2, random.Random(1))
    assert sorted(swapped) == sorted(WORDS) and swapped != WORDS
    inserted = random_insertion(WORDS, 0.2, random.Random(1))
    assert len(inserted) == len(WORDS) + 2 and set(inserted) == set(WORDS)


def test_mask_and_char_noise():
    masked = random_mask(WORDS * 20, 0.5, random.Random(2), mask="[MASK]")
    assert 0.35 < masked.count("[MASK]") / len(masked) < 0.65
    text = " ".join(WORDS)
    noisy = char_noise(text, 1.0, random.Random(3))
    assert noisy != text and len(noisy.split(" ")) == len(WORDS)  # one typo per word
    assert char_noise(text, 0.0, random.Random(3)) == text


def test_augment_text_is_reproducible_and_checks_ops():
    text = " ".join(WORDS)
    assert augment_text(text, 0.3, random.Random(5)) == augment_text(text, 0.3, random.Random(5))
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_text(text, 0.3, random.Random(5), ops=["shuffle"])


def test_augment_batch_re_tokenises_within_the_width(tiny_bert):
    from pretune.models.load import load_tokenizer
    from pretune.techniques.augment import augment_batch

    tokenizer = load_tokenizer(tiny_bert)
    texts = ["match goal team coach league player", "bank market shares"]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    batch = {**enc, "labels": torch.tensor([0, 2])}
    batch.pop("token_type_ids", None)
    out = augment_batch(batch, tokenizer, 0.5, ["delete"], random.Random(0))
    assert out["labels"].tolist() == [0, 2]
    assert out["input_ids"].shape[1] <= batch["input_ids"].shape[1]
    assert not torch.equal(out["attention_mask"].sum(1), batch["attention_mask"].sum(1))
    decoded = tokenizer.decode(out["input_ids"][0], skip_special_tokens=True).split()
    assert set(decoded) <= set(texts[0].split())


def test_flip_labels_flips_exactly_the_rate_to_other_labels():
    from pretune.data.noise import flip_labels

    labels = ["a", "b", "c"] * 20
    noisy, flipped = flip_labels(labels, 0.4, ["a", "b", "c"], seed=1)
    assert len(flipped) == 24
    assert all(noisy[i] != labels[i] for i in flipped)
    assert sum(n != o for n, o in zip(noisy, labels, strict=True)) == 24
    assert flip_labels(labels, 0.4, ["a", "b", "c"], seed=1) == (noisy, flipped)
    with pytest.raises(ValueError, match="rate"):
        flip_labels(labels, 1.5, ["a", "b"])
