"""Recipe: fine-tune a pre-trained encoder for text classification.

    prepare_data  ->  build model, task, optimizer  ->  fit (the one loop)  ->  test  ->  save

Callable from Python (`run_finetune(config)`) and from the CLI (`pretune finetune`, and
`pretune quickstart`, which is this recipe with its defaults: MiniLM on BBC News).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pretune.config import RunConfig, save_config
from pretune.data.balance import class_weights, label_counts
from pretune.data.encode import EncodedSplit, TrainBatches
from pretune.data.text_classification import (
    PreparedData,
    column,
    encode_splits,
    prepare_data,
    report_data,
)
from pretune.errors import ConfigError
from pretune.evaluate.analysis import analyse_test_split
from pretune.evaluate.evaluator import evaluate_split
from pretune.files import write_json_atomic
from pretune.models.init import init_model
from pretune.models.load import load_classifier, load_tokenizer, resolve_model_path
from pretune.process_state import leaves_process_as_found
from pretune.report import try_write_report
from pretune.tasks.classify import ClassifyTask
from pretune.train.checkpoint import load_model_state
from pretune.train.loop import fit
from pretune.train.run_folder import (
    create_run_dir,
    environment,
    is_main_process,
    open_run_for_resume,
)
from pretune.train.session import (
    Training,
    bind_task_model,
    build_training,
    export_model,
    make_accelerator,
    prepare_model,
    prepare_techniques,
    resume_training,
    save_final_model,
    set_determinism,
    standard_handlers,
    unwrap_for_export,
)

__all__ = ["build_model_and_task", "run_finetune"]

METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "macro_precision", "macro_recall")


def build_model_and_task(
    cfg: RunConfig, model_path: Path, data: PreparedData, encoded: dict[str, EncodedSplit]
) -> tuple[Any, list[Any], Any]:
    """The classifier (techniques applied), the techniques and the task that trains it.

    Shared by `run_finetune` and `pretune lr-find`, so both train exactly the same thing.
    """
    model = load_classifier(
        model_path,
        data.label_names,
        max_length=cfg.model.max_length,
        classifier_dropout=cfg.model.classifier_dropout,
        hidden_dropout=cfg.model.hidden_dropout,
        attention_dropout=cfg.model.attention_dropout,
    )
    init_model(model, cfg.model.init)  # the new head only (none: keep the model's own init)
    if cfg.model.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    techniques, model = prepare_techniques(cfg, model)
    weights = None
    if cfg.train.class_weights == "balanced":
        ids = encoded["train"].labels or []
        weights = torch.tensor(class_weights(ids, len(data.label_names)), dtype=torch.float)
    task: Any = ClassifyTask(
        model, data.label_names, weights, loss=cfg.train.loss, loss_params=cfg.train.loss_params
    )
    for technique in techniques:
        task = technique.wrap_task(task)
    return model, techniques, task


@leaves_process_as_found()
def run_finetune(
    cfg: RunConfig,
    *,
    resume: Path | None = None,
    recipe: str = "finetune",
    log: Any = print,
    live_progress: bool | None = None,
    extra_handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune, evaluate on test, save `model/` and `summary.json`; returns the summary.

    Args:
        cfg: the run config (ignored when resuming: the run's saved config is used).
        resume: an unfinished run folder to continue from its newest intact checkpoint.
        recipe: the name used for new run folders.
        log: where progress messages go (a print-like function).
        live_progress: force the live progress bar on/off (default: only on a terminal).
        extra_handlers: more loop handlers, called after the standard ones (e.g. a search's
            pruning callback).
    """
    started = time.perf_counter()
    if resume is not None:
        cfg = open_run_for_resume(resume)
    if cfg.eval.metric not in METRICS:
        raise ConfigError(f"eval.metric='{cfg.eval.metric}' unknown; choose from {METRICS}")
    set_determinism(cfg)
    model_path = resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    data = prepare_data(cfg.data, cfg.seed)
    tokenizer = load_tokenizer(model_path)
    encoded = encode_splits(tokenizer, data, cfg.model.max_length)
    report_data(data, encoded, cfg.model.max_length, log)
    model, techniques, task = build_model_and_task(cfg, model_path, data, encoded)

    run_dir = resume if resume is not None else create_run_dir(cfg, recipe)
    if is_main_process():
        save_config(cfg, run_dir / "config.yaml")
    train_data = TrainBatches(
        encoded["train"], cfg.train.batch_size, cfg.seed, cfg.train.group_by_length
    )
    training = build_training(cfg, model, len(train_data.epoch_batches(0)), techniques)
    previous_seconds = 0.0
    if resume is not None:
        trainer_state = resume_training(training, run_dir, recipe, log)
        previous_seconds = trainer_state.get("train_seconds", 0.0)
    return _train_and_finish(
        cfg, run_dir, task, tokenizer, data, encoded, train_data, training,
        started=started, previous_seconds=previous_seconds, log=log, live=live_progress,
        extra_handlers=extra_handlers,
    )  # fmt: skip


def _train_and_finish(
    cfg: RunConfig,
    run_dir: Path,
    task: Any,
    tokenizer: Any,
    data: PreparedData,
    encoded: dict[str, EncodedSplit],
    train_data: TrainBatches,
    training: Training,
    *,
    started: float,
    previous_seconds: float,
    log: Any,
    live: bool | None,
    extra_handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    state = training.state
    accelerator = make_accelerator(cfg, supports_fsdp=True)
    state.model, state.optimizer = prepare_model(accelerator, state.model, state.optimizer, log=log)
    bind_task_model(task, state.model)  # DDP-wrapped (or FSDP-sharded) with several processes
    train_data.rank, train_data.world_size = accelerator.process_index, accelerator.num_processes
    main_process = accelerator.is_main_process
    device = accelerator.device
    train_started = time.perf_counter()

    def elapsed() -> dict[str, float]:
        return {"train_seconds": previous_seconds + time.perf_counter() - train_started}

    has_validation = len(encoded["validation"]) > 0
    handlers = standard_handlers(
        cfg, run_dir, training, has_validation=has_validation, elapsed=elapsed, live=live,
        main_process=main_process,
    ) + list(extra_handlers)  # fmt: skip

    def validate() -> dict[str, Any]:
        labels = data.label_names
        return evaluate_split(task, encoded["validation"], cfg.eval.batch_size, device, labels)

    evaluate = validate if has_validation else None
    fit(state, task, train_data, training.plan, accelerator, handlers, evaluate)
    train_seconds = elapsed()["train_seconds"]

    model = unwrap_for_export(accelerator, state.model)  # FSDP: a collective
    if not main_process:  # the main process tests and saves; the others are done
        return {"run_dir": str(run_dir), "process_index": accelerator.process_index}
    bind_task_model(task, model)  # no collective calls from here on
    best_path = run_dir / "checkpoints" / "best" / "model.safetensors"
    restored_best = best_path.is_file()
    if restored_best:
        model.load_state_dict(load_model_state(best_path))
    model = export_model(model, training.techniques, restored_best)
    test_metrics: dict[str, Any] = {}
    if len(encoded["test"]) > 0:
        test_metrics = evaluate_split(
            task, encoded["test"], cfg.eval.batch_size, device, data.label_names
        )
    save_final_model(model, tokenizer, run_dir)
    summary = _summary(cfg, data, encoded, state, test_metrics, train_seconds, started)
    # Curves, calibration, error analysis and efficiency (evaluate/analysis.py).
    extras = analyse_test_split(
        model, data.splits, encoded, data.label_names, summary, device, cfg.eval.batch_size, state
    )
    summary.update(extras)
    write_json_atomic(run_dir / "summary.json", summary)
    try_write_report(run_dir, log)  # never raises: a failed report must not lose the run
    summary["run_dir"] = str(run_dir)
    return summary


def _summary(
    cfg: RunConfig,
    data: PreparedData,
    encoded: dict[str, EncodedSplit],
    state: Any,
    test_metrics: dict[str, Any],
    train_seconds: float,
    started: float,
) -> dict[str, Any]:
    train = encoded["train"]
    return {
        "task": "classify",
        "labels": data.label_names,
        "test": test_metrics,
        "best_validation": {
            "metric": cfg.eval.metric,
            "value": state.best_metric,
            "step": state.best_step,
        },
        "steps": state.step,
        "epochs": round(state.epoch + state.batch_in_epoch / max(1, len(train)), 3),
        "data": {
            "sizes": {key: len(split) for key, split in encoded.items()},
            "train_label_counts": label_counts(column(data.splits["train"], "label")),
            "truncated_fraction": {
                key: round(split.truncated / max(1, len(split)), 4)
                for key, split in encoded.items()
            },
            "cleaning": data.cleaning,
        },
        "timing": {
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
            "train_examples_per_s": round(state.examples_seen / max(train_seconds, 1e-9), 2),
        },
        "environment": environment(),
    }
