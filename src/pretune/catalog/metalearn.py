"""The meta-learning config: TransferConfig plus episodes and the held-out class split."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pretune.catalog.common import TransferTrainConfig, transfer_schema
from pretune.catalog.fewshot import TransferSettings
from pretune.config import narrow

__all__ = ["MetalearnConfig", "MetalearnSettings"]

# The outer optimizer of the episodes (train.lr) and one "epoch" = `episodes` episodes.
METALEARN_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "data": {"source": "bbc"},
    "model": {"init_from": "minilm", "max_length": 256},
    "train": {"lr": 1e-3, "epochs": 1.0, "warmup_ratio": 0.0, "log_every": 50,
              "max_grad_norm": None, "weight_decay": 0.0},
}  # fmt: skip


class MetalearnSettings(TransferSettings):
    """Episodic meta-training on some classes, fast adaptation to held-out classes."""

    method: Literal["protonet", "reptile", "fomaml"] = Field(
        "protonet",
        description="protonet: prototypical-network episodes; reptile / fomaml: first-order "
        "meta-learning of the head's initialisation.",
    )
    held_out: int = Field(
        2, ge=2, description="Classes held out of meta-training; tested as held_out-way tasks."
    )
    rotations: int = Field(
        0, ge=0, description="How many held-out class sets to rotate through (0: all of them)."
    )
    ways: int = Field(2, ge=2, description="Classes per meta-training episode.")
    shots: int = Field(2, ge=1, description="Support examples per class (training and test).")
    queries: int = Field(8, ge=1, description="Query examples per class in a training episode.")
    episodes: int = Field(
        400, ge=1, description="Meta-training episodes (one optimizer step each)."
    )
    pool_per_class: int | None = Field(
        80,
        ge=1,
        description="Pool rows per class that episodes and supports come from (a "
        "seeded sample, keeps embedding cheap; null: all).",
    )
    draws: int = Field(5, ge=1, description="Support draws per held-out set at test time.")
    projection_dim: int = Field(128, ge=1, description="Width of the meta-learned projection head.")
    inner_steps: int = Field(5, ge=1, description="reptile/fomaml: inner SGD steps per episode.")
    inner_lr: float = Field(0.5, gt=0, description="reptile/fomaml: inner SGD learning rate.")


# The meta-learned projection head trains on frozen embeddings, one episode a step (so no
# train.batch_size), without the config's techniques (they change an encoder).
MetalearnTrainConfig = narrow(TransferTrainConfig, "MetalearnTrainConfig", drop=("batch_size",))

MetalearnConfig = transfer_schema(
    "metalearn",
    "Meta-learning (protonet, reptile, fomaml) over label subsets; test on held-out classes.",
    MetalearnSettings,
    train=MetalearnTrainConfig,
    techniques=False,
    hints={"train.batch_size": "one episode is one batch: set ways, shots and queries"},
)
