"""Recipe: image classification (ViT or CNN) and masked-image-modelling pre-training (ViTMAE).

    images (folder or digits) -> stratified split -> model (vit / cnn / mae) -> task
    (ClassifyTask / MIMTask, techniques and pixel adversarial training wrapped around it)
    -> fit (the one loop; augmentation on training batches) -> test + FGSM/PGD -> run folder

Callable from Python (`run_images(config)`) and from the CLI (`pretune images`). The run folder
is a normal one: config.yaml, metrics.jsonl, checkpoints/, model/ (HF format), summary.json,
report.html; `--resume` continues it exactly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pretune.config import save_config
from pretune.data.balance import label_counts
from pretune.data.batching import inference_batches
from pretune.errors import DataError
from pretune.evaluate.evaluator import evaluate_split
from pretune.files import write_json_atomic
from pretune.models.load import _quiet_transformers
from pretune.process_state import leaves_process_as_found
from pretune.recipes.images_config import IMAGE_DEFAULTS, ImageConfig
from pretune.report import try_write_report
from pretune.tasks.classify import ClassifyTask
from pretune.train.checkpoint import load_model_state
from pretune.train.loop import fit
from pretune.train.run_folder import create_run_dir, environment, open_run_for_resume
from pretune.train.session import (
    bind_task_model,
    build_training,
    export_model,
    make_accelerator,
    prepare_techniques,
    resume_training,
    set_determinism,
    standard_handlers,
)
from pretune.vision.adversarial import PixelAdversarialTraining, pixel_robustness
from pretune.vision.augment import ImageAugment
from pretune.vision.data import (
    ImageData,
    ImageSplit,
    ImageTrainBatches,
    load_images,
    split_images,
    take,
)
from pretune.vision.models import build_image_classifier, build_mae
from pretune.vision.tasks import MIMTask

__all__ = ["IMAGE_DEFAULTS", "ImageConfig", "evaluate_mim", "prepare_images", "run_images"]

_EVAL_SEED = 1_000_003  # validation masks come from their own fixed random stream


def _subsample(rows: list[int], labels: list[str], size: int, seed: int) -> list[int]:
    # Stratified, so "5% of the labels" keeps every class present.
    if size >= len(rows):
        return rows
    from sklearn.model_selection import train_test_split

    classes = len(set(labels[i] for i in rows))
    if size < classes:
        raise DataError(
            f"keeping {size} labelled training images leaves fewer than one per class "
            f"({classes} classes); raise data.label_fraction / data.max_train_examples"
        )
    keep, _ = train_test_split(
        rows, train_size=size, random_state=seed, stratify=[labels[i] for i in rows]
    )
    return sorted(keep)


def prepare_images(cfg: ImageConfig) -> tuple[ImageData, dict[str, ImageSplit], list[str]]:
    """Load `data.source`, split it, keep the configured share of training labels.

    For objective=mim the splits are unlabelled and the training split keeps every image (the
    split is the same as a classification run with the same split seed, so its test images
    are never pre-trained on).
    """
    d = cfg.data
    data = load_images(d.source, cfg.model.image_size, d.grayscale)
    split_seed = cfg.seed if d.split_seed is None else d.split_seed
    rows = split_images(data, d.val_fraction, d.test_fraction, split_seed)
    if cfg.objective == "mim":
        return data, {key: take(data, r, None) for key, r in rows.items()}, []
    train = rows["train"]
    size = d.max_train_examples or (
        max(1, round(d.label_fraction * len(train))) if d.label_fraction else None
    )
    if size is not None:
        rows["train"] = _subsample(train, data.labels, size, cfg.seed)
    label_names = sorted(set(data.labels[i] for i in rows["train"]))
    if len(label_names) < 2:
        raise DataError(
            f"data.source={d.source}: the training images have only one label "
            f"({label_names[0]!r}); classification needs at least two label folders"
        )
    return data, {key: take(data, r, label_names) for key, r in rows.items()}, label_names


def evaluate_mim(task: MIMTask, split: ImageSplit, batch_size: int, device: Any) -> dict:
    """Mean reconstruction loss on `split` with fixed masks (the same at every evaluation)."""
    model = task.model
    was_training = model.training
    model.eval()
    metrics = task.new_metrics()
    patches = (split.pixels.shape[-1] // model.config.patch_size) ** 2
    generator = torch.Generator().manual_seed(_EVAL_SEED)
    for indices in inference_batches(split.lengths, batch_size):
        batch = {k: v.to(device) for k, v in split.load(indices).items()}
        batch["noise"] = torch.rand(len(indices), patches, generator=generator).to(device)
        with torch.inference_mode():
            metrics.update(task(batch))
    model.train(was_training)
    return metrics.compute()


def _build(cfg: ImageConfig, splits: dict[str, ImageSplit], labels: list[str], log: Any):
    pixels = splits["train"].pixels
    channels, size = int(pixels.shape[1]), int(pixels.shape[-1])
    if cfg.objective == "mim":
        model = build_mae(cfg.model, cfg.mim, size, channels)
    else:
        model = build_image_classifier(cfg.model, labels, size, channels, log)
    techniques, model = prepare_techniques(cfg, model)
    adv = cfg.image.adversarial_training
    if adv.method != "none":
        techniques.append(PixelAdversarialTraining(adv.method, adv.epsilon, adv.steps))
    task: Any
    if cfg.objective == "mim":
        task = MIMTask(model)
    else:
        t = cfg.train
        task = ClassifyTask(model, labels, loss=t.loss, loss_params=t.loss_params)
    for technique in techniques:
        task = technique.wrap_task(task)
    return model, techniques, task


@leaves_process_as_found()
def run_images(
    cfg: ImageConfig,
    *,
    resume: Path | None = None,
    recipe: str = "images",
    log: Any = print,
    live_progress: bool | None = None,
    extra_handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train (classify or mim), test, save `model/`, `summary.json` and the report.

    Args:
        cfg: the run config (ignored when resuming: the run's saved config is used).
        resume: an unfinished run folder to continue from its newest intact checkpoint.
        recipe: the name used for new run folders.
        log: where progress messages go (a print-like function).
        live_progress: force the live progress bar on/off (default: only on a terminal).
        extra_handlers: more loop handlers, called after the standard ones.
    """
    started = time.perf_counter()
    _quiet_transformers()
    if resume is not None:
        cfg = open_run_for_resume(resume, schema=ImageConfig)  # type: ignore[assignment]
    set_determinism(cfg)
    data, splits, labels = prepare_images(cfg)
    sizes = ", ".join(f"{key} {len(s)}" for key, s in splits.items())
    shape = "x".join(str(v) for v in splits["train"].pixels.shape[1:])
    log(f"images {cfg.data.source}: {len(data)} of {shape} (CxHxW); splits: {sizes}")
    model, techniques, task = _build(cfg, splits, labels, log)
    run_dir = resume if resume is not None else create_run_dir(cfg, recipe)
    save_config(cfg, run_dir / "config.yaml")
    augment = ImageAugment(**cfg.image.augment.model_dump())
    train_data = ImageTrainBatches(
        splits["train"], cfg.train.batch_size, cfg.seed, augment if augment.enabled else None
    )
    training = build_training(cfg, model, len(train_data.epoch_batches(0)), techniques)
    previous_seconds = 0.0
    if resume is not None:
        previous_seconds = resume_training(training, run_dir, recipe, log).get("train_seconds", 0.0)

    state = training.state
    accelerator = make_accelerator(cfg)
    state.model, state.optimizer = accelerator.prepare(state.model, state.optimizer)
    bind_task_model(task, state.model)
    device = accelerator.device
    train_started = time.perf_counter()

    def elapsed() -> dict[str, float]:
        return {"train_seconds": previous_seconds + time.perf_counter() - train_started}

    validation = splits["validation"]
    has_validation = len(validation) > 0 and cfg.objective == "classify"
    handlers = standard_handlers(
        cfg, run_dir, training, has_validation=has_validation, elapsed=elapsed, live=live_progress
    ) + list(extra_handlers)

    def evaluate() -> dict[str, Any]:
        if cfg.objective == "mim":
            return evaluate_mim(task, validation, cfg.eval.batch_size, device)
        return evaluate_split(task, validation, cfg.eval.batch_size, device, labels)

    fit(state, task, train_data, training.plan, accelerator, handlers,
        evaluate if len(validation) > 0 else None)  # fmt: skip
    train_seconds = elapsed()["train_seconds"]
    model = accelerator.unwrap_model(state.model)
    bind_task_model(task, model)
    best = run_dir / "checkpoints" / "best" / "model.safetensors"
    restored_best = has_validation and best.is_file()
    if restored_best:
        model.load_state_dict(load_model_state(best))
    model = export_model(model, training.techniques, restored_best)
    _save_model(model, run_dir)
    summary = _summary(cfg, splits, data, labels, state, model, train_seconds, started)
    test = splits["test"]
    if len(test) > 0 and cfg.objective == "classify":
        summary["test"] = evaluate_split(task, test, cfg.eval.batch_size, device, labels)
        r = cfg.image.robustness
        if r.epsilons:
            summary["robustness"] = pixel_robustness(
                model, test, r.epsilons, r.pgd_steps, cfg.eval.batch_size
            )
    elif len(test) > 0:
        summary["test"] = evaluate_mim(task, test, cfg.eval.batch_size, device)
    write_json_atomic(run_dir / "summary.json", summary)
    try_write_report(run_dir, log)  # never raises: a failed report must not lose the run
    summary["run_dir"] = str(run_dir)
    return summary


def _save_model(model: Any, run_dir: Path) -> None:
    """`model/` in Hugging Face format, written beside and renamed (no tokenizer for images)."""
    import os
    import shutil

    tmp = run_dir / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    shutil.rmtree(run_dir / "model", ignore_errors=True)
    os.replace(tmp, run_dir / "model")


def _summary(
    cfg: ImageConfig,
    splits: dict[str, ImageSplit],
    data: ImageData,
    labels: list[str],
    state: Any,
    model: Any,
    train_seconds: float,
    started: float,
) -> dict[str, Any]:
    train = splits["train"]
    summary: dict[str, Any] = {
        "task": "image_classify" if cfg.objective == "classify" else "mim",
        "recipe": "images",
        "arch": cfg.model.arch,
        "labels": labels,
        "best_validation": {
            "metric": cfg.eval.metric if cfg.objective == "classify" else "loss",
            "value": state.best_metric,
            "step": state.best_step,
        },
        "validation": dict(state.eval_metrics),
        "steps": state.step,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {
            "source": cfg.data.source,
            "images": len(data),
            "shape": list(train.pixels.shape[1:]),
            "sizes": {key: len(split) for key, split in splits.items()},
        },
        "timing": {
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
            "train_examples_per_s": round(state.examples_seen / max(train_seconds, 1e-9), 2),
        },
        "environment": environment(),
    }
    if labels and train.labels is not None:
        summary["data"]["train_label_counts"] = label_counts([labels[i] for i in train.labels])
    return summary
