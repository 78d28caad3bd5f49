"""Batch order and padding: pure functions of (lengths, seed, epoch), so a resume can jump to
any batch by index instead of replaying the data."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["epoch_batches", "inference_batches", "pad_batch"]


def epoch_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    group_by_length: bool = True,
    mega_batch: int = 50,
) -> list[list[int]]:
    """The batches (lists of row indices) of one training epoch.

    With `group_by_length`, rows are shuffled, cut into mega-batches of `mega_batch` batches,
    sorted by length inside each, then batched; the batch order is shuffled again. Batches hold
    similar lengths (little padding) while the order stays random (HF's LengthGroupedSampler).

    The same (seed, epoch) always gives the same batches.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    span = batch_size * mega_batch
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def inference_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches sorted by length (longest first) for evaluation: the least padding possible.

    Longest first also means an out-of-memory error shows up on the first batch, not the last.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(
    rows: Sequence[dict[str, Sequence[int]]], pad_token_id: int, label_key: str = "labels"
) -> dict[str, torch.Tensor]:
    """Pad `input_ids` (and `token_type_ids`, when rows have them: text pairs) to the longest
    row of the batch.

    Returns a dict of tensors: input_ids and attention_mask (B, T), labels (B,) if present.
    """
    width = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        input_ids[i, :n] = torch.as_tensor(row["input_ids"], dtype=torch.long)
        attention_mask[i, :n] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if rows and "token_type_ids" in rows[0]:
        token_types = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            token_types[i, : len(row["token_type_ids"])] = torch.as_tensor(row["token_type_ids"])
        batch["token_type_ids"] = token_types
    if rows and label_key in rows[0]:
        batch[label_key] = torch.as_tensor([row[label_key] for row in rows], dtype=torch.long)
    return batch
