"""Packing: full windows, separators, no padding; unpacked rows and their padding fraction;
batches tagged with (epoch, position) so masks are a pure function of where a batch sits."""

from __future__ import annotations

import pytest
import torch

from pretune.data.masking import MLMMasking
from pretune.data.packing import (
    IndexBatch,
    LMSplit,
    LMTrainBatches,
    batch_generator,
    pack_documents,
    padding_fraction,
)
from pretune.errors import DataError

SEP, CLS = 3, 2


def _starts(docs):
    return [[True] * len(d) for d in docs]


def test_pack_cuts_full_windows_with_separators_and_frame():
    docs = [[10, 11, 12], [20, 21], [30, 31, 32, 33]]
    ids, starts, dropped = pack_documents(
        docs, _starts(docs), window=5, separator=SEP, prefix=[CLS], suffix=[SEP]
    )
    # stream: 10 11 12 S 20 21 S 30 31 32 33 S (12 tokens) -> bodies of 3: 4 rows, 0 dropped
    assert ids.tolist() == [
        [CLS, 10, 11, 12, SEP],
        [CLS, SEP, 20, 21, SEP],
        [CLS, SEP, 30, 31, SEP],
        [CLS, 32, 33, SEP, SEP],
    ]
    assert dropped == 0 and starts.shape == ids.shape


def test_pack_drops_the_partial_tail_and_counts_it():
    docs = [list(range(10, 20))]
    ids, _, dropped = pack_documents(docs, _starts(docs), window=4, separator=SEP)
    assert ids.shape == (2, 4) and dropped == 3  # 11 tokens -> 2 windows + 3 left over


def test_corpus_shorter_than_one_window_is_a_clear_error():
    with pytest.raises(DataError, match="fewer than one window"):
        pack_documents([[10, 11]], [[True, True]], window=64, separator=SEP)


def test_unpacked_split_pads_per_batch_and_reports_padding():
    split = LMSplit([[1, 2, 3, 4], [1, 2]], [[True] * 4, [True] * 2], pad_token_id=0)
    batch = split.load([0, 1])
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4], [1, 2, 0, 0]]
    assert batch["attention_mask"].sum() == 6
    assert padding_fraction(split, [[0, 1]]) == pytest.approx(2 / 8)
    packed = LMSplit(torch.ones(4, 8, dtype=torch.long), torch.ones(4, 8, dtype=torch.bool), 0)
    assert padding_fraction(packed, [[0, 1], [2, 3]]) == 0.0


def test_masks_are_new_each_epoch_and_reproducible_by_position():
    rows = torch.randint(10, 500, (16, 32), generator=torch.Generator().manual_seed(0))
    split = LMSplit(rows, torch.ones_like(rows, dtype=torch.bool), 0)
    data = LMTrainBatches(split, 4, seed=7, prepare=MLMMasking(4, 500, special_ids=(0,)))
    first = data.epoch_batches(0)
    assert all(isinstance(b, IndexBatch) for b in first) and first[2].position == 2
    again = LMTrainBatches(split, 4, seed=7, prepare=MLMMasking(4, 500, special_ids=(0,)))
    assert torch.equal(
        data.load(first[2])["labels"], again.load(again.epoch_batches(0)[2])["labels"]
    )
    # the same rows in another epoch get other masks (dynamic masking)
    rows_of = list(first[0])
    other = IndexBatch(rows_of, epoch=1, position=0)
    assert not torch.equal(data.load(first[0])["labels"], data.load(other)["labels"])
    g1, g2 = batch_generator(7, 0, 1), batch_generator(7, 1, 0)
    assert torch.rand(1, generator=g1) != torch.rand(1, generator=g2)
