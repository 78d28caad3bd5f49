"""The distillation config: RunConfig plus a `distill:` section (teacher, student, loss).

Kept apart from the recipe so that `pretune config show distill` (and the recipe catalog) can
read the schema without importing torch.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pretune.config import ModelConfig, RunConfig

__all__ = ["DISTILL_DEFAULTS", "DistillConfig", "DistillModelConfig", "DistillSection"]

# The recipe's own defaults (catalog.py): none beyond fine-tuning's (train.epochs=3, ...).
DISTILL_DEFAULTS: dict[str, Any] = {}


class DistillSection(BaseModel):
    """The `distill:` section."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

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


class DistillModelConfig(ModelConfig):
    """`model:` for distillation: the student comes from `distill.student`, not `init_from`."""

    init_from: str | None = Field(  # type: ignore[assignment]
        None, description="Unused by distill: set distill.student instead."
    )


class DistillConfig(RunConfig):
    """RunConfig plus the `distill:` section (`pretune config show distill`)."""

    model: DistillModelConfig = Field(default_factory=DistillModelConfig)
    distill: DistillSection = Field(default_factory=DistillSection)

    @model_validator(mode="after")
    def _check_distill(self) -> DistillConfig:
        if self.model.init_from is not None:
            raise ValueError(
                "model.init_from is not used by distill; give the student as "
                "distill.student (e.g. student=teacher:layers=3 or a checkpoint folder)"
            )
        if "distill" in self.techniques:
            raise ValueError(
                "techniques.distill: the distill recipe adds distillation itself; configure "
                "it in the distill: section"
            )
        return self
