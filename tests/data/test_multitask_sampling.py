"""The multi-task batch mixer: shares follow the formulas, round-robin alternates, and an epoch
is a pure function of (seed, epoch) (exact resume depends on it)."""

from __future__ import annotations

import pytest
import torch

from pretune.data.encode import EncodedSplit
from pretune.data.multitask import (
    MixedBatches,
    mix_epoch,
    sampling_probabilities,
    task_quotas,
)


def _lengths(*sizes: int) -> list[list[int]]:
    return [[5 + (i % 7) for i in range(n)] for n in sizes]


def _counts(batches, tasks: int) -> list[int]:
    return [sum(b.task == t for b in batches) for t in range(tasks)]


def test_probabilities_follow_the_formulas():
    sizes = [900, 100, 25]
    proportional = sampling_probabilities(sizes, "proportional")
    assert proportional == pytest.approx([n / 1025 for n in sizes])
    for t in (2.0, 5.0):
        expected = [n ** (1 / t) for n in sizes]
        got = sampling_probabilities(sizes, "temperature", t)
        assert got == pytest.approx([e / sum(expected) for e in expected])
    assert sampling_probabilities(sizes, "temperature", 1.0) == pytest.approx(proportional)
    assert sampling_probabilities(sizes, "round_robin") == pytest.approx([1 / 3] * 3)


@pytest.mark.parametrize(("strategy", "temperature"), [("proportional", 1.0), ("temperature", 3.0)])
def test_epoch_shares_match_the_formula(strategy, temperature):
    sizes = (640, 160, 40)
    batches = mix_epoch(
        _lengths(*sizes), 8, seed=1, epoch=0, strategy=strategy, temperature=temperature
    )
    total = sum(n // 8 for n in sizes)  # 80 + 20 + 5 batches
    assert len(batches) == total
    expected = sampling_probabilities(sizes, strategy, temperature)
    for count, p in zip(_counts(batches, 3), expected, strict=True):
        assert abs(count - p * total) < 1  # largest-remainder rounding of the exact share
    if strategy == "proportional":  # each task's rows are seen exactly once per epoch
        for task, n in enumerate(sizes):
            rows = sorted(i for b in batches if b.task == task for i in b)
            assert rows == list(range(n))
    else:  # the smallest task is up-sampled: its 5 batches repeat within the epoch
        assert _counts(batches, 3)[2] > 5


def test_quotas_sum_to_the_epoch_and_give_every_task_a_batch():
    assert task_quotas([0.5, 0.3, 0.2], 10) == [5, 3, 2]
    assert sum(task_quotas([0.333, 0.333, 0.334], 100)) == 100
    assert task_quotas([0.999, 0.001], 10)[1] == 1


def test_round_robin_alternates_between_tasks():
    batches = mix_epoch(_lengths(200, 24, 64), 8, seed=0, epoch=0, strategy="round_robin")
    order = [b.task for b in batches]
    assert order[:9] == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert len(batches) == 25 + 3 + 8
    assert max(_counts(batches, 3)) - min(_counts(batches, 3)) <= 1


def test_an_epoch_is_a_pure_function_of_seed_and_epoch():
    lengths = _lengths(100, 30)
    kwargs = {"strategy": "temperature", "temperature": 2.0}
    first = mix_epoch(lengths, 4, seed=3, epoch=2, **kwargs)
    again = mix_epoch(lengths, 4, seed=3, epoch=2, **kwargs)
    assert [(b.task, tuple(b)) for b in first] == [(b.task, tuple(b)) for b in again]
    other = mix_epoch(lengths, 4, seed=3, epoch=3, **kwargs)
    assert [(b.task, tuple(b)) for b in first] != [(b.task, tuple(b)) for b in other]
    assert [b.position for b in first] == list(range(len(first)))


def test_mixed_batches_load_the_right_task_with_reproducible_transforms():
    splits = [
        EncodedSplit([[1, 5, 6, 2]] * 12, [0, 1] * 6, pad_token_id=0),
        EncodedSplit([[1, 7, 8, 9, 2]] * 12, None, pad_token_id=0),
    ]

    def noise(batch, generator):  # stands in for MLM masking
        batch = dict(batch)
        batch["labels"] = torch.randint(100, batch["input_ids"].shape, generator=generator)
        return batch

    data = MixedBatches(splits, 4, seed=0, strategy="round_robin", prepare=[None, noise])
    batches = data.epoch_batches(0)
    first, second = data.load(batches[0]), data.load(batches[1])
    assert int(first["task_id"]) == 0 and first["input_ids"].shape == (4, 4)
    assert int(second["task_id"]) == 1 and second["input_ids"].shape == (4, 5)
    assert torch.equal(data.load(batches[1])["labels"], second["labels"])  # same (epoch, pos)
    assert not torch.equal(data.load(batches[3])["labels"], second["labels"])
