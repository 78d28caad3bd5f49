"""Batch order and padding: pure functions of (lengths, seed, epoch)."""

from __future__ import annotations

import random

import pytest
import torch

from pretune.data.batching import epoch_batches, inference_batches, pad_batch


def _random_lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 200) for _ in range(n)]


def _padding(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("group_by_length", [True, False])
@pytest.mark.parametrize(("n", "batch_size"), [(103, 8), (16, 4), (5, 10), (1, 3)])
def test_every_index_exactly_once(n: int, batch_size: int, group_by_length: bool) -> None:
    lengths = _random_lengths(n)
    batches = epoch_batches(
        lengths, batch_size, seed=1, epoch=0, group_by_length=group_by_length, mega_batch=3
    )
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert len(batches) >= -(-n // batch_size)


def test_without_grouping_only_the_last_batch_is_short() -> None:
    batches = epoch_batches(list(range(23)), 5, seed=0, epoch=0, group_by_length=False)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]


@pytest.mark.parametrize("group_by_length", [True, False])
def test_same_seed_and_epoch_same_batches(group_by_length: bool) -> None:
    lengths = _random_lengths(200)
    a = epoch_batches(lengths, 8, seed=3, epoch=2, group_by_length=group_by_length)
    torch.manual_seed(123)  # the global RNG must not matter
    b = epoch_batches(lengths, 8, seed=3, epoch=2, group_by_length=group_by_length)
    assert a == b


@pytest.mark.parametrize("group_by_length", [True, False])
def test_different_epoch_or_seed_different_order(group_by_length: bool) -> None:
    lengths = _random_lengths(200)
    kwargs = {"group_by_length": group_by_length, "mega_batch": 5}
    base = epoch_batches(lengths, 8, seed=3, epoch=0, **kwargs)
    other_epoch = epoch_batches(lengths, 8, seed=3, epoch=1, **kwargs)
    other_seed = epoch_batches(lengths, 8, seed=4, epoch=0, **kwargs)
    assert base != other_epoch
    assert base != other_seed
    assert sorted(map(sorted, base)) != sorted(map(sorted, other_epoch))  # not just reordered


def test_grouping_by_length_cuts_padding() -> None:
    lengths = _random_lengths(1000, seed=5)
    grouped = epoch_batches(lengths, 16, seed=0, epoch=0, group_by_length=True)
    plain = epoch_batches(lengths, 16, seed=0, epoch=0, group_by_length=False)
    assert _padding(grouped, lengths) * 5 < _padding(plain, lengths)


def test_grouped_batch_order_is_shuffled() -> None:
    # Grouped batches are not served longest-first: the batch order is random.
    lengths = _random_lengths(400, seed=2)
    batches = epoch_batches(lengths, 8, seed=0, epoch=0, group_by_length=True, mega_batch=100)
    maxima = [max(lengths[i] for i in b) for b in batches]
    assert maxima != sorted(maxima, reverse=True)
    assert maxima != sorted(maxima)


def test_inference_batches_longest_first() -> None:
    lengths = _random_lengths(57, seed=9)
    batches = inference_batches(lengths, 10)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(57))
    assert [len(b) for b in batches] == [10, 10, 10, 10, 10, 7]
    flat_lengths = [lengths[i] for i in flat]
    assert flat_lengths == sorted(lengths, reverse=True)
    assert inference_batches([3, 9, 1, 9], 2) == [[1, 3], [0, 2]]


def test_pad_batch_pads_and_masks() -> None:
    rows = [
        {"input_ids": [5, 6, 7], "labels": 2},
        {"input_ids": [8], "labels": 0},
        {"input_ids": [9, 10], "labels": 1},
    ]
    batch = pad_batch(rows, pad_token_id=0)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].dtype == torch.long
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["labels"].dtype == torch.long
    assert batch["labels"].tolist() == [2, 0, 1]


def test_pad_batch_uses_the_pad_id_and_no_labels() -> None:
    batch = pad_batch([{"input_ids": [1]}, {"input_ids": [2, 3, 4]}], pad_token_id=99)
    assert "labels" not in batch
    assert batch["input_ids"].tolist() == [[1, 99, 99], [2, 3, 4]]
    assert int(batch["attention_mask"].sum()) == 4


def test_pad_batch_custom_label_key() -> None:
    batch = pad_batch([{"input_ids": [1], "y": 4}], pad_token_id=0, label_key="y")
    assert batch["y"].tolist() == [4]
    assert "labels" not in batch


def test_pad_batch_pads_token_type_ids() -> None:
    rows = [
        {"input_ids": [1, 2, 3], "token_type_ids": [0, 1, 1]},
        {"input_ids": [4], "token_type_ids": [0]},
    ]
    batch = pad_batch(rows, pad_token_id=0)
    assert batch["token_type_ids"].tolist() == [[0, 1, 1], [0, 0, 0]]
