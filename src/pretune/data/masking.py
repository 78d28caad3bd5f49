"""Masked-LM masking as pure functions of (token ids, random generator).

BERT's rule: choose `probability` of the maskable tokens (never special tokens or padding);
of those, replace 80% with [MASK], 10% with a random token and keep 10% unchanged; the model
must predict the original token at every chosen position. With whole-word masking a word's
tokens are chosen together (the choice is drawn once per word, at its first token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["IGNORE_INDEX", "CausalLabels", "MLMMasking", "mask_tokens"]

IGNORE_INDEX = -100  # label of positions that carry no loss (PyTorch's cross-entropy default)


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    generator: torch.Generator,
    probability: float = 0.15,
    mask_ratio: float = 0.8,
    random_ratio: float = 0.1,
    word_starts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a batch for MLM.

    Args:
        input_ids: (B, T) token ids.
        maskable: (B, T) bool, False for special tokens and padding.
        mask_token_id: id of [MASK].
        vocab_size: random replacements are drawn from [0, vocab_size).
        generator: the only source of randomness (same generator state, same masks).
        probability: share of maskable tokens chosen.
        mask_ratio: share of chosen tokens replaced by [MASK].
        random_ratio: share of chosen tokens replaced by a random token (the rest are kept).
        word_starts: (B, T) bool, True at each word's first token: enables whole-word masking.

    Returns:
        (masked input_ids (B, T), labels (B, T): the original id where chosen, else -100).
        At least one token of the batch is chosen, so the loss is never empty.
    """
    draw = torch.rand(input_ids.shape, generator=generator)
    if word_starts is not None:
        # Every token reads the draw of its word's first token: (B, T) index of that token.
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        first = torch.where(word_starts, positions, torch.zeros_like(positions)).cummax(1).values
        draw = draw.gather(1, first)
    chosen = (draw < probability) & maskable
    if not chosen.any() and maskable.any():
        chosen.view(-1)[maskable.view(-1).nonzero()[0]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < mask_ratio)
    to_random = chosen & (action >= mask_ratio) & (action < mask_ratio + random_ratio)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    masked = torch.where(to_random, random_ids, masked)
    return masked, labels


@dataclass(frozen=True)
class MLMMasking:
    """Batch transform for MLM: masks `input_ids` and adds `labels` (see `mask_tokens`)."""

    mask_token_id: int
    vocab_size: int
    special_ids: Sequence[int]
    probability: float = 0.15
    mask_ratio: float = 0.8
    random_ratio: float = 0.1
    whole_word: bool = False

    def __call__(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        batch = dict(batch)
        word_starts = batch.pop("word_starts", None)
        ids = batch["input_ids"]
        special = torch.isin(ids, torch.as_tensor(list(self.special_ids), dtype=ids.dtype))
        maskable = batch["attention_mask"].bool() & ~special
        batch["input_ids"], batch["labels"] = mask_tokens(
            ids,
            maskable,
            mask_token_id=self.mask_token_id,
            vocab_size=self.vocab_size,
            generator=generator,
            probability=self.probability,
            mask_ratio=self.mask_ratio,
            random_ratio=self.random_ratio,
            word_starts=word_starts if self.whole_word else None,
        )
        return batch


class CausalLabels:
    """Batch transform for causal LM: labels are the inputs (the model shifts them), with
    padding ignored."""

    def __call__(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        batch = dict(batch)
        batch.pop("word_starts", None)
        ids = batch["input_ids"]
        batch["labels"] = torch.where(
            batch["attention_mask"].bool(), ids, torch.full_like(ids, IGNORE_INDEX)
        )
        return batch
