"""Recipe: the quickstart — fine-tune the bundled MiniLM on the bundled BBC News corpus.

It is `finetune` with the defaults spelled out, so `pretune config show quickstart` documents
exactly what ran: stratified 80/10/10 split with seed 0, length 256, one epoch, batch 16.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QUICKSTART_DEFAULTS"]

QUICKSTART_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "data": {"source": "bbc", "val_fraction": 0.1, "test_fraction": 0.1},
    "model": {"init_from": "minilm", "max_length": 256},
    "train": {"epochs": 1, "batch_size": 16},
}
