"""Tokenise a split once and serve it to the loop as index batches (see `batching.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from pretune.data.batching import epoch_batches, pad_batch
from pretune.errors import DataError

__all__ = [
    "EncodedRows",
    "EncodedSplit",
    "TokenRows",
    "TrainBatches",
    "encode_labels",
    "encode_split",
]


class TokenRows:
    """`len()` and `lengths` of a split held as `input_ids`, one token-id list per row
    (a base for the encodings' dataclasses; it adds no fields)."""

    input_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


@dataclass
class EncodedSplit(TokenRows):
    """Token ids (truncated, with special tokens) and label ids of one split, in memory."""

    input_ids: list[list[int]]
    labels: list[int] | None
    pad_token_id: int
    truncated: int = 0  # rows that reached max_length (their tail was cut)

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = [{"input_ids": self.input_ids[i]} for i in indices]
        if self.labels is not None:
            for row, i in zip(rows, indices, strict=True):
                row["labels"] = self.labels[i]
        return pad_batch(rows, self.pad_token_id)


class EncodedRows(Protocol):
    """What TrainBatches needs of a split: row lengths (for length grouping) and padded rows.
    EncodedSplit is one; so are the NER, QA and SFT encodings."""

    @property
    def lengths(self) -> list[int]: ...

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]: ...


@dataclass
class TrainBatches:
    """The training split as the loop sees it: `epoch_batches(epoch)` and `load(indices)`.

    `batch_size` is the global batch. In a run of `world_size` processes every process walks
    the same batch order and loads only its share of each batch (rows rank::world_size), so
    the averaged gradient is that of the global batch and a checkpoint resumes on any number
    of processes.
    """

    split: EncodedRows
    batch_size: int
    seed: int
    group_by_length: bool = True
    rank: int = 0
    world_size: int = 1

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        return epoch_batches(
            self.split.lengths,
            self.batch_size,
            seed=self.seed,
            epoch=epoch,
            group_by_length=self.group_by_length,
        )

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        share = list(indices)[self.rank :: self.world_size]
        if not share:
            raise ValueError(
                f"a batch of {len(indices)} rows cannot feed {self.world_size} processes; "
                "raise train.batch_size to at least the number of processes"
            )
        return self.split.load(share)


def encode_labels(labels: Sequence[str], label_names: Sequence[str], where: str) -> list[int]:
    """Label strings -> ids; a label outside `label_names` is a DataError naming it."""
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        raise DataError(
            f"{where}: label(s) {', '.join(repr(u) for u in unknown[:5])} are not in the label "
            f"set ({', '.join(label_names)}); fix the labels or retrain with them"
        )
    return [index[label] for label in labels]


def encode_split(
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    labels: list[int] | None = None,
    chunk: int = 2048,
) -> EncodedSplit:
    """Tokenise `texts` once (fast tokenizer, in chunks), truncating to `max_length` tokens."""
    input_ids: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        batch = list(texts[start : start + chunk])
        input_ids.extend(tokenizer(batch, truncation=True, max_length=max_length)["input_ids"])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    truncated = sum(len(ids) >= max_length for ids in input_ids)
    return EncodedSplit(input_ids, labels, pad, truncated)
