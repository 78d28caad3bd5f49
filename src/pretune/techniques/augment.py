"""On-the-fly text augmentation: each training batch is edited a little before the forward.

The loop's batches hold token ids, not texts, so this technique decodes each row back to text
with the model's tokenizer, applies one random edit from `pretune.data.augment` (word
deletion, swap, insertion, masking, or character noise) and re-tokenises, truncated to the
batch's width. No change to the data pipeline is needed, and every epoch sees fresh edits.
Decoding normalises the text the way the tokenizer sees it (e.g. lower case for uncased
models), so the edits apply to what the model would read anyway. Evaluation is untouched.

Randomness comes from torch's generator, so runs and resumes repeat exactly.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["Augment", "augment_batch"]


def augment_batch(
    batch: dict[str, torch.Tensor],
    tokenizer: Any,
    p: float,
    ops: list[str],
    rng: random.Random,
) -> dict[str, torch.Tensor]:
    """A new batch whose texts are edited copies of `batch`'s (labels kept, same max width)."""
    from pretune.data.augment import augment_text
    from pretune.data.batching import pad_batch

    ids, mask = batch["input_ids"], batch.get("attention_mask")
    rows = list(ids) if mask is None else [r[m.bool()] for r, m in zip(ids, mask, strict=True)]
    texts = tokenizer.batch_decode([r.tolist() for r in rows], skip_special_tokens=True)
    mask_word = tokenizer.mask_token or tokenizer.unk_token or "[MASK]"
    edited = [augment_text(text, p, rng, ops, mask_word) for text in texts]
    encoded = tokenizer(edited, truncation=True, max_length=int(ids.shape[1]))["input_ids"]
    new_rows: list[dict[str, Any]] = [{"input_ids": row} for row in encoded]
    if "labels" in batch:
        for row, label in zip(new_rows, batch["labels"].tolist(), strict=True):
            row["labels"] = label
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return {k: v.to(ids.device) for k, v in pad_batch(new_rows, pad).items()}


@TECHNIQUES.register("augment", "random word deletion/swap/insertion, masking, typos on the fly")
class Augment(Technique):
    """Args:
    p: rate of each edit: the share of words deleted, masked or given a typo; swaps and
        insertions make round(p * words) changes.
    ops: the edits to choose from, one per text: delete, swap, insert, mask, char.
    tokenizer: folder of the tokenizer (default: the model's own checkpoint folder).
    """

    name = "augment"
    # Re-tokenising moves tokens: only a label per example survives it (not per token/span).
    tasks = frozenset({"classify"})
    cheap_to_build = False  # its edit list comes from the data package (datasets, sklearn)

    def __init__(
        self, p: float = 0.1, ops: list[str] | None = None, tokenizer: str | None = None
    ) -> None:
        from pretune.data.augment import OPERATIONS

        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in (0, 1), got {p}")
        self.ops = list(ops or OPERATIONS)
        unknown = [op for op in self.ops if op not in OPERATIONS]
        if unknown:
            raise ValueError(f"unknown ops {unknown}; choose from {list(OPERATIONS)}")
        self.p = p
        self.tokenizer_path = tokenizer
        self.tokenizer: Any = None

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        from pretune.models.load import load_tokenizer

        path = self.tokenizer_path or getattr(model, "name_or_path", "")
        if not path or not Path(path).is_dir():
            raise ValueError(
                f"cannot find the model's tokenizer (got {path!r}); "
                "set techniques.augment.tokenizer to its folder"
            )
        self.tokenizer = load_tokenizer(Path(path))
        return model

    def batch_start(self, state: Any) -> None:
        import torch

        batch = state.batch
        if "token_type_ids" in batch and bool(batch["token_type_ids"].any()):
            return  # text pairs: decoding would merge the two texts
        # One draw from torch's RNG seeds this batch's edits: reproducible and resumable.
        rng = random.Random(int(torch.randint(0, 2**31 - 1, (1,))))
        state.batch = augment_batch(batch, self.tokenizer, self.p, self.ops, rng)
