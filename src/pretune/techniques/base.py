"""The technique interface: a small object that changes training at named points.

A technique is configured by name under `techniques:` in the run config and built from the
`TECHNIQUES` registry:

    techniques:
      ema: {decay: 0.999}
      freeze: {train: [classifier]}

Set-up hooks run once, in config order, while the recipe builds the run:

    model  = technique.prepare_model(model)          # wrap or freeze modules (LoRA, freezing)
    groups = technique.param_groups(groups, model)   # per-group LRs (layer-wise decay)
    task   = technique.wrap_task(task)               # change the loss (mixup, R-Drop, distill)

Loop hooks are methods named after events (`after_step(state)`, ... see `train/events.py`);
the loop calls them before any callback. At the end, `export_model(model)` returns what is
saved (LoRA merged, EMA weights swapped in). A technique that keeps state of its own (EMA
weights, an unfreezing schedule) returns it from `state_dict()`, which is saved in every
checkpoint, so a resumed run matches an uninterrupted one.

The work itself lives in pure functions beside each technique (`ema_update(avg, params, decay)`),
tested on their own; the class is the thin hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["TASK_KINDS", "TEXT_TASKS", "Technique"]

# What a run trains, as a technique sees it (`RunConfig.task_kind`).
TASK_KINDS = ("classify", "ner", "qa", "mlm", "clm", "sft", "rl", "image-classify", "mim",
              "multitask")  # fmt: skip
# Kinds whose inputs are token ids through a word-embedding table (embedding perturbations).
TEXT_TASKS = frozenset({"classify", "ner", "qa", "mlm", "clm", "sft"})


class Technique:
    """Base with do-nothing set-up hooks; subclasses override what they need.

    Class attributes declare side effects; `registry.check_technique_combination` reads them
    to refuse, at config load, combinations that cannot work together:
        freezes_params: sets `requires_grad` of every parameter in `prepare_model` (freeze,
            LoRA). Two such techniques undo each other's choice: refused.
        changes_loss: replaces the task's loss through `wrap_task`. Such techniques compose by
            wrapping (R-Drop around mixup around L1), so two of them are allowed.
        needs_teacher: requires a teacher model, given as its `teacher` parameter.
        replaces_weights: `export_model` swaps in weights of its own (EMA, SWA); skipped when
            the recipe restores the best validation weights, which already include them. Two
            such techniques would both swap their average in: refused.
        perturbs_embeddings: adds a perturbation to the word-embedding outputs through a
            forward hook (FGM, PGD). Two such hooks on one module see each other's perturbed
            passes and mix their gradients: refused.
        mixes_examples: feeds the inner task a blend of two examples' inputs (mixup). A teacher
            would score the unmixed batch, not what the student saw: refused with
            `needs_teacher`.
        tasks: the task kinds (`TASK_KINDS`) it makes sense for; None means every kind. A run
            config naming it for another kind is refused before anything is built.
        cheap_to_build: the constructor only checks and keeps its parameters (no torch, no
            file read), so config checks build it once to refuse bad values early
            (`registry.check_technique_values`). False where building loads something
            (distill's teacher, augment's edit list from the data package).

    Technique modules import torch (and the data package) inside the functions that use it:
    checking a config that names techniques imports the modules for these declarations and
    the constructors' signatures, and stays quick (docs/config.md, tests/cli/test_startup.py).
    """

    name: str = ""
    freezes_params: bool = False
    changes_loss: bool = False
    needs_teacher: bool = False
    replaces_weights: bool = False
    perturbs_embeddings: bool = False
    mixes_examples: bool = False
    tasks: frozenset[str] | None = None
    cheap_to_build: bool = True

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def param_groups(
        self, groups: list[dict[str, Any]], model: torch.nn.Module
    ) -> list[dict[str, Any]]:
        return groups

    def wrap_task(self, task: Any) -> Any:
        return task

    def export_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state  # stateless by default

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
