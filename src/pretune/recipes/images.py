"""Recipe: image classification (ViT or CNN) and masked-image-modelling pre-training (ViTMAE).

    images (folder or digits) -> stratified split -> model (vit / cnn / mae) -> task
    (ClassifyTask / MIMTask, techniques and pixel adversarial training wrapped around it)
    -> fit (the one loop; augmentation on training batches) -> test + FGSM/PGD -> run folder

Callable from Python (`run_images(config)`) and from the CLI (`pretune images`). The run folder
is a normal one: config.yaml, metrics.jsonl, checkpoints/, model/ (HF format), summary.json,
report.html; `--resume` continues it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pretune.data.balance import label_counts
from pretune.data.batching import inference_batches
from pretune.errors import DataError
from pretune.evaluate.evaluator import evaluate_split
from pretune.recipes._runner import recipe
from pretune.tasks.classify import ClassifyTask
from pretune.train.session import Session
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

__all__ = ["evaluate_mim", "prepare_images", "run_images"]

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


def prepare_images(cfg: Any) -> tuple[ImageData, dict[str, ImageSplit], list[str]]:
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


def _model_and_task(
    cfg: Any, splits: dict[str, ImageSplit], labels: list[str], log: Any
) -> tuple[Any, Callable[[Any], Any]]:
    pixels = splits["train"].pixels
    channels, size = int(pixels.shape[1]), int(pixels.shape[-1])
    if cfg.objective == "mim":
        return build_mae(cfg.model, cfg.mim, size, channels), MIMTask
    model = build_image_classifier(cfg.model, labels, size, channels, log)
    t = cfg.train

    def make_task(model: Any) -> ClassifyTask:
        return ClassifyTask(model, labels, loss=t.loss, loss_params=t.loss_params)

    return model, make_task


def _evaluator(cfg: Any, labels: list[str], split: ImageSplit) -> Any:
    if len(split) == 0:
        return None

    def evaluate(task: Any, device: Any) -> dict[str, Any]:
        if cfg.objective == "mim":
            return evaluate_mim(task, split, cfg.eval.batch_size, device)
        return evaluate_split(task, split, cfg.eval.batch_size, device, labels)

    return evaluate


@recipe("images")
def run_images(cfg: Any, session: Session) -> dict[str, Any]:
    """Train (classify or mim), test, save `model/`; returns the summary."""
    data, splits, labels = prepare_images(cfg)
    sizes = ", ".join(f"{key} {len(s)}" for key, s in splits.items())
    shape = "x".join(str(v) for v in splits["train"].pixels.shape[1:])
    session.log(f"images {cfg.data.source}: {len(data)} of {shape} (CxHxW); splits: {sizes}")
    model, make_task = _model_and_task(cfg, splits, labels, session.log)
    adv = cfg.image.adversarial_training
    extra = []
    if adv.method != "none":
        extra.append(PixelAdversarialTraining(adv.method, adv.epsilon, adv.steps))
    a = cfg.image.augment
    augment = ImageAugment(a.shift, a.hflip, a.rotate, a.cutout, a.noise)
    train_data = ImageTrainBatches(
        splits["train"], cfg.train.batch_size, cfg.seed, augment if augment.enabled else None
    )
    trained = session.train(
        model, make_task, train_data, evaluate=_evaluator(cfg, labels, splits["validation"]),
        techniques=extra,
    )  # fmt: skip
    if not trained.main_process:
        return {}
    session.save_model(trained.model)
    summary = _summary(cfg, splits, data, labels, trained.model)
    test, batch = splits["test"], cfg.eval.batch_size
    if len(test) > 0 and cfg.objective == "classify":
        summary["test"] = evaluate_split(trained.task, test, batch, trained.device, labels)
        r = cfg.image.robustness
        if r.epsilons:
            summary["robustness"] = pixel_robustness(
                trained.model, test, r.epsilons, r.pgd_steps, batch
            )
    elif len(test) > 0:
        summary["test"] = evaluate_mim(trained.task, test, batch, trained.device)
    return summary


def _summary(
    cfg: Any, splits: dict[str, ImageSplit], data: ImageData, labels: list[str], model: Any
) -> dict[str, Any]:
    train = splits["train"]
    summary: dict[str, Any] = {
        "task": "image_classify" if cfg.objective == "classify" else "mim",
        "arch": cfg.model.arch,
        "labels": labels,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {
            "source": cfg.data.source,
            "images": len(data),
            "shape": list(train.pixels.shape[1:]),
            "sizes": {key: len(split) for key, split in splits.items()},
        },
    }
    if labels and train.labels is not None:
        summary["data"]["train_label_counts"] = label_counts([labels[i] for i in train.labels])
    return summary
