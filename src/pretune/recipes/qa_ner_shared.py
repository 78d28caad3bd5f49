"""What the NER and QA recipes share: a model with a new head, and training it through the
session helpers and the one loop (fit) up to the restored best weights."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pretune.config import ModelConfig, RunConfig
from pretune.data.encode import TrainBatches
from pretune.errors import ConfigError
from pretune.models.init import init_model
from pretune.models.load import _quiet_transformers, dropout_overrides
from pretune.train.checkpoint import load_model_state
from pretune.train.loop import fit
from pretune.train.session import (
    bind_task_model,
    build_training,
    export_model,
    make_accelerator,
    prepare_techniques,
    resume_training,
    standard_handlers,
)

__all__ = ["Trained", "load_head_model", "train_to_best"]


def load_head_model(auto_class: Any, path: Path, m: ModelConfig, labels: list[str] | None) -> Any:
    """`auto_class.from_pretrained(path)` with a new head (token labels named by `labels`),
    the config's dropouts, init and embedding freezing applied."""
    from transformers import AutoConfig

    _quiet_transformers()
    config = AutoConfig.from_pretrained(str(path))
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and m.max_length > limit:
        raise ConfigError(
            f"model.max_length={m.max_length} exceeds the model's {limit} positions ({path})"
        )
    overrides: dict[str, Any] = {}
    if labels is not None:
        overrides = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)},
        }
    if m.classifier_dropout is not None:
        overrides["classifier_dropout"] = m.classifier_dropout
    overrides.update(dropout_overrides(config, m.hidden_dropout, m.attention_dropout, path))
    same = labels is not None and list(getattr(config, "id2label", {}).values()) == labels
    try:
        model = auto_class.from_pretrained(str(path), **overrides, ignore_mismatched_sizes=not same)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot build a {auto_class.__name__} from {path}: {exc}") from None
    init_model(model, m.init)
    if m.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


@dataclass
class Trained:
    model: Any  # the exported model with the best validation weights (if any were kept)
    state: Any
    device: Any
    train_seconds: float


def train_to_best(
    cfg: RunConfig,
    run_dir: Path,
    model: Any,
    make_task: Callable[[Any], Any],
    train_rows: TrainBatches,
    evaluate: Callable[[Any, Any], dict[str, Any]] | None,
    *,
    recipe: str,
    resume: bool,
    log: Any,
    live: bool | None,
    extra_handlers: Sequence[Any] = (),
) -> tuple[Trained, Any]:
    """Techniques, optimizer, (resume), fit, then the best validation weights and export.

    `make_task(model)` builds the task; `evaluate(task, device)` returns validation metrics.
    Returns (Trained, task bound to the final model).
    """
    techniques, model = prepare_techniques(cfg, model)
    task = make_task(model)
    for technique in techniques:
        task = technique.wrap_task(task)
    training = build_training(cfg, model, len(train_rows.epoch_batches(0)), techniques)
    previous = 0.0
    if resume:
        previous = resume_training(training, run_dir, recipe, log).get("train_seconds", 0.0)
    state = training.state
    accelerator = make_accelerator(cfg)
    state.model, state.optimizer = accelerator.prepare(state.model, state.optimizer)
    bind_task_model(task, state.model)
    started = time.perf_counter()

    def elapsed() -> dict[str, float]:
        return {"train_seconds": previous + time.perf_counter() - started}

    handlers = standard_handlers(
        cfg, run_dir, training, has_validation=evaluate is not None, elapsed=elapsed, live=live
    ) + list(extra_handlers)
    run_eval = None
    if evaluate is not None:

        def run_eval() -> dict[str, Any]:
            return evaluate(task, accelerator.device)

    fit(state, task, train_rows, training.plan, accelerator, handlers, run_eval)
    seconds = elapsed()["train_seconds"]
    model = accelerator.unwrap_model(state.model)
    best = run_dir / "checkpoints" / "best" / "model.safetensors"
    if best.is_file():
        model.load_state_dict(load_model_state(best))
    model = export_model(model, techniques, best.is_file())
    bind_task_model(task, model)
    return Trained(model, state, accelerator.device, seconds), task
