"""Turn documents into language-model training rows: packed windows or one document per row.

Packed: documents are tokenised without special tokens, joined with a separator and cut into
full windows of `max_length` tokens, so no compute goes to padding. Unpacked: one (truncated)
document per row, padded per batch. Both keep a per-token "word start" flag (for whole-word
masking) and serve batches to the loop as `IndexBatch`es, which carry their (epoch, position)
so that dynamic masking is a pure function of (seed, epoch, batch index) and survives a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pretune.data.batching import epoch_batches
from pretune.errors import DataError

__all__ = [
    "IndexBatch",
    "LMSplit",
    "LMTrainBatches",
    "Prepare",
    "batch_generator",
    "encode_documents",
    "pack_documents",
    "padding_fraction",
]


class IndexBatch(tuple):
    """Row indices of one batch, tagged with the epoch and position it was drawn at."""

    epoch: int
    position: int

    def __new__(cls, indices: Sequence[int], epoch: int, position: int) -> IndexBatch:
        batch = super().__new__(cls, indices)
        batch.epoch, batch.position = epoch, position
        return batch


def encode_documents(tokenizer: Any, texts: Sequence[str], chunk: int = 1024) -> tuple[list, list]:
    """Token ids and word-start flags of each text (no special tokens).

    A token starts a word when its word id differs from the previous token's; whole-word
    masking masks all tokens of a word together.
    """
    ids: list[list[int]] = []
    starts: list[list[bool]] = []
    for begin in range(0, len(texts), chunk):
        # verbose=False: whole documents are longer than a window on purpose (packing cuts them).
        enc = tokenizer(list(texts[begin : begin + chunk]), add_special_tokens=False, verbose=False)
        for row, tokens in enumerate(enc["input_ids"]):
            words = enc.word_ids(row)
            ids.append(tokens)
            starts.append([w is None or i == 0 or w != words[i - 1] for i, w in enumerate(words)])
    return ids, starts


def pack_documents(
    docs: Sequence[Sequence[int]],
    starts: Sequence[Sequence[bool]],
    *,
    window: int,
    separator: int,
    prefix: Sequence[int] = (),
    suffix: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Concatenate documents with `separator` and cut full windows of `window` tokens.

    Each window is `prefix + body + suffix` (e.g. `[CLS] ... [SEP]` for BERT). The last partial
    window is dropped (its tokens are counted and returned), so every row is full: no padding.

    Returns:
        (input_ids (N, window), word_starts (N, window) bool, dropped tail tokens).

    Raises:
        DataError: the corpus has fewer tokens than one window.
    """
    body = window - len(prefix) - len(suffix)
    if body < 1:
        raise DataError(f"model.max_length={window} leaves no room for text after special tokens")
    stream: list[int] = []
    flags: list[bool] = []
    for doc, doc_starts in zip(docs, starts, strict=True):
        if not doc:
            continue
        stream.extend(doc)
        stream.append(separator)
        flags.extend(doc_starts)
        flags.append(True)
    rows = len(stream) // body
    if rows == 0:
        raise DataError(
            f"the corpus has {len(stream)} tokens, fewer than one window of {body}; add text, "
            f"lower model.max_length, or set pretrain.packing=false"
        )
    ids = torch.tensor(stream[: rows * body], dtype=torch.long).view(rows, body)
    word = torch.tensor(flags[: rows * body], dtype=torch.bool).view(rows, body)

    def frame(x: torch.Tensor, before: Sequence[Any], after: Sequence[Any]) -> torch.Tensor:
        parts = [torch.tensor([list(before)] * rows, dtype=x.dtype).view(rows, len(before)), x]
        parts.append(torch.tensor([list(after)] * rows, dtype=x.dtype).view(rows, len(after)))
        return torch.cat(parts, dim=1)

    ids = frame(ids, prefix, suffix)
    word = frame(word, [True] * len(prefix), [True] * len(suffix))
    return ids, word, len(stream) - rows * body


@dataclass
class LMSplit:
    """Language-model rows: either a packed (N, T) tensor or ragged per-document lists."""

    input_ids: torch.Tensor | list[list[int]]
    word_starts: torch.Tensor | list[list[bool]]
    pad_token_id: int
    dropped_tokens: int = 0  # packed: the tail that did not fill a window

    @property
    def packed(self) -> bool:
        return isinstance(self.input_ids, torch.Tensor)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        if isinstance(self.input_ids, torch.Tensor):
            return [self.input_ids.shape[1]] * len(self)
        return [len(row) for row in self.input_ids]

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """input_ids, attention_mask and word_starts (B, T), padded to the longest row."""
        if isinstance(self.input_ids, torch.Tensor):
            index = torch.as_tensor(list(indices), dtype=torch.long)
            ids = self.input_ids.index_select(0, index)
            starts = self.word_starts.index_select(0, index)  # type: ignore[union-attr]
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "word_starts": starts}
        rows = [self.input_ids[i] for i in indices]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        starts = torch.ones((len(rows), width), dtype=torch.bool)
        for b, i in enumerate(indices):
            n = len(self.input_ids[i])
            ids[b, :n] = torch.as_tensor(self.input_ids[i], dtype=torch.long)
            mask[b, :n] = 1
            starts[b, :n] = torch.as_tensor(self.word_starts[i], dtype=torch.bool)
        return {"input_ids": ids, "attention_mask": mask, "word_starts": starts}


def padding_fraction(split: LMSplit, batches: Sequence[Sequence[int]]) -> float:
    """Share of the token slots in `batches` that are padding (0.0 when packed)."""
    lengths = split.lengths
    slots = real = 0
    for batch in batches:
        sizes = [lengths[i] for i in batch]
        slots += max(sizes) * len(sizes)
        real += sum(sizes)
    return 0.0 if slots == 0 else 1 - real / slots


def batch_generator(seed: int, epoch: int, position: int) -> torch.Generator:
    """The random stream of one batch: a pure function of (seed, epoch, batch position)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_003 + position)


# A batch transform: (batch, generator) -> batch with "labels" (e.g. dynamic MLM masking).
Prepare = Callable[[dict[str, torch.Tensor], torch.Generator], dict[str, torch.Tensor]]


@dataclass
class LMTrainBatches:
    """The training rows as the loop sees them.

    Batches are `IndexBatch`es, so `load` knows (epoch, position) and `prepare` (the masking)
    gets a generator seeded from them: new masks each epoch, identical ones after a resume.
    """

    split: LMSplit
    batch_size: int
    seed: int
    prepare: Prepare
    group_by_length: bool = True

    def epoch_batches(self, epoch: int) -> list[IndexBatch]:
        batches = epoch_batches(
            self.split.lengths,
            self.batch_size,
            seed=self.seed,
            epoch=epoch,
            group_by_length=self.group_by_length and not self.split.packed,
        )
        return [IndexBatch(b, epoch, position) for position, b in enumerate(batches)]

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        epoch, position = getattr(indices, "epoch", 0), getattr(indices, "position", 0)
        generator = batch_generator(self.seed, epoch, position)
        return self.prepare(self.split.load(indices), generator)
