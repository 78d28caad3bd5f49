"""The multi-task config: RunConfig plus a `tasks:` list and the sampling strategy.

Kept apart from the recipe so that `pretune config show multitask` (and the recipe catalog)
can read the schema without importing torch.

    tasks:
      - {name: topic, kind: classify, label_column: label, weight: 1.0}
      - {name: mlm, kind: mlm, weight: 0.5}        # auxiliary masked-LM loss on the text
    sampling: temperature
    sampling_temperature: 2.0
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pretune.catalog.common import CLASSIFY_METRICS, training_schema
from pretune.config import (
    Section,
)

__all__ = ["TASK_KINDS", "MultitaskConfig", "MultitaskSettings", "TaskSpec"]

TASK_KINDS = ("classify", "mlm")


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class TaskSpec(Section):
    """One task: a head on the shared encoder with its own data, loss weight and metrics."""

    name: str = Field(description="Task name: its metrics prefix and its folder under model/.")
    kind: str = Field(
        description="classify (a classification head) or mlm (auxiliary masked-LM loss)."
    )
    weight: float = Field(1.0, description="Multiplies this task's loss (> 0).")
    source: str | None = Field(
        None, description="This task's data (null: data.source); same forms as data.source."
    )
    text_column: str | None = Field(None, description="Text column (null: data.text_column).")
    label_column: str | None = Field(
        None, description="Label column of a classify task (null: data.label_column)."
    )
    max_train_examples: int | None = Field(
        None, ge=1, description="Use only this many training rows (null: data.max_train_examples "
        "for classify tasks, all rows for mlm).",
    )  # fmt: skip
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="Share of tokens masked (mlm).")

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if not _NAME.match(self.name):
            raise ValueError(
                f"task name {self.name!r}: use letters, digits, '_', '-' or '.' (it names a "
                "folder under model/)"
            )
        if self.kind not in TASK_KINDS:
            raise ValueError(
                f"task '{self.name}': unknown kind {self.kind!r}; choose from "
                f"{', '.join(TASK_KINDS)}"
            )
        if not self.weight > 0:
            raise ValueError(f"task '{self.name}': weight must be > 0 (got {self.weight:g})")
        if self.kind == "mlm" and self.label_column is not None:
            raise ValueError(f"task '{self.name}': an mlm task has no label_column; drop it")
        return self


def _default_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(name="topic", kind="classify"),
        TaskSpec(name="mlm", kind="mlm", weight=0.5),
    ]


class MultitaskSettings(Section):
    """The tasks and how batches are shared among them (top-level keys of the config)."""

    tasks: list[TaskSpec] = Field(
        default_factory=_default_tasks,
        description="The tasks: [{name, kind: classify|mlm, weight, source, text_column, "
        "label_column, max_train_examples}]; the first classify task is the primary one.",
    )
    sampling: Literal["proportional", "temperature", "round_robin"] = Field(
        "proportional",
        description="How batches are shared among tasks: by size, by size^(1/T), or in turns.",
    )
    sampling_temperature: float = Field(
        2.0, gt=0, description="T of sampling=temperature (1: proportional; large: uniform)."
    )

    @field_validator("tasks", mode="after")
    @classmethod
    def _check_tasks(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        if not tasks:
            raise ValueError("tasks is empty; list at least one classify task")
        seen: set[str] = set()
        for task in tasks:
            if task.name in seen:
                raise ValueError(f"duplicate task name '{task.name}'; task names must be unique")
            seen.add(task.name)
        if not any(task.kind == "classify" for task in tasks):
            raise ValueError(
                "tasks has no classify task; multi-task training needs at least one "
                "(for an MLM-only run use `pretune pretrain`)"
            )
        return tasks


def _multitask_metrics(cfg: Any) -> list[str]:
    names = [t.name for t in cfg.tasks if t.kind == "classify"]
    return list(CLASSIFY_METRICS) + [f"{n}/{m}" for n in names for m in CLASSIFY_METRICS]


MultitaskConfig = training_schema(
    "multitask",
    "Train several tasks (classify heads, auxiliary MLM) on one shared encoder.",
    task_kind="multitask",
    metrics=_multitask_metrics,
    top_level=MultitaskSettings,
)
