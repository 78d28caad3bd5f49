"""The distillation config: RunConfig plus a `distill:` section (teacher, student, loss).

Kept apart from the recipe so that `pretune config show distill` (and the recipe catalog) can
read the schema without importing torch.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pretune.catalog.common import CLASSIFY_METRICS, model_section, training_schema
from pretune.config import (
    Section,
)

__all__ = ["DistillConfig", "DistillModelConfig", "DistillSection"]


class DistillSection(Section):
    """The `distill:` section."""

    teacher: str | None = Field(
        None,
        description="The teacher: a pretune classifier run folder (runs/<name>) or a local "
        "Hugging Face sequence-classification checkpoint folder.",
    )
    student: str = Field(
        "teacher:layers=3",
        description="The student: 'teacher:layers=N' (N of the teacher's layers, evenly spaced, "
        "ending with the last), 'teacher:layers=0,2,4' (those layers, 0-based), "
        "'<model>:layers=...' for another checkpoint (e.g. minilm:layers=3), a local checkpoint "
        "folder, or a preset from scratch (tiny, mini, small).",
    )
    temperature: float = Field(
        2.0, gt=0, description="Softmax temperature of the soft loss (> 0; 1-4 is usual)."
    )
    alpha: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Weight of the soft (teacher) loss; 1 - alpha weighs the hard label loss. "
        "0 trains the student without the teacher (the baseline).",
    )
    hidden_weight: float = Field(
        0.0,
        ge=0,
        description="Weight of intermediate-layer matching (hidden-state MSE; a learned "
        "projection when widths differ). 0: off.",
    )
    cache_teacher: bool = Field(
        False,
        description="Compute the teacher's logits once per training example before training "
        "(instead of a teacher forward pass on every batch).",
    )
    speed_rows: int = Field(
        64, ge=1, description="Test rows timed to compare student and teacher inference speed."
    )
    speed_repeats: int = Field(
        3, ge=1, description="Timing rounds (student and teacher alternate; the median is kept)."
    )


# The student comes from `distill.student`: there is no model.init_from.
DistillModelConfig = model_section("DistillModelConfig", drop=["init_from"])


def _check_distill(cfg: Any) -> None:
    if "distill" in cfg.techniques:
        raise ValueError(
            "techniques.distill: the distill recipe adds distillation itself; configure "
            "it in the distill: section"
        )


DistillConfig = training_schema(
    "distill",
    "Distil a fine-tuned classifier into a smaller student.",
    task_kind="classify",
    metrics=CLASSIFY_METRICS,
    checks=[_check_distill],
    hints={
        "model.init_from": "give the student as distill.student (e.g. student=teacher:layers=3 "
        "or a checkpoint folder)"
    },
    model=DistillModelConfig,
    distill=DistillSection,
)
