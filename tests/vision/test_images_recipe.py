"""`run_images` end to end on digits: a CNN and a ViT learn, MIM pre-training lowers its loss and
hands its encoder to a ViT, FGSM/PGD lower accuracy; the run folder is a normal one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import Interrupted, StopAfterCheckpoint
from pretune.catalog import load_recipe_config
from pretune.recipes.images import run_images
from pretune.vision.models import build_image_classifier

FAST = ("train.num_threads=1", "train.batch_size=32", "train.log_every=1", "eval.batch_size=256")


def config(tmp_path: Path, *overrides: str) -> Any:
    args = [f"output_dir={tmp_path / 'runs'}", *FAST, *overrides]
    return load_recipe_config("images", None, args)


@pytest.fixture
def no_report(monkeypatch):
    # The report (matplotlib, several seconds) is checked once, in the CNN test.
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)


def train_losses(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r.get("split") == "train"]


def test_cnn_learns_digits_and_attacks_lower_accuracy(tmp_path):
    cfg = config(
        tmp_path, "name=cnn", "model.arch=cnn", "model.cnn_widths=[16,32]",
        "data.max_train_examples=500", "train.epochs=4", "train.lr=1e-2",
        "image.augment.shift=1", "image.robustness.epsilons=[0.05,0.2]",
        "image.robustness.pgd_steps=5",
    )  # fmt: skip
    summary = run_images(cfg, log=lambda _: None, live_progress=False)
    run = Path(summary["run_dir"])
    assert summary["test"]["accuracy"] > 0.8  # chance is 0.1
    assert len(summary["test"]["confusion_matrix"]) == 10
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "report.html"):
        assert (run / name).is_file(), name
    assert (run / "model" / "model.safetensors").is_file()
    assert "Robustness to pixel attacks" in (run / "report.html").read_text()
    r = summary["robustness"]
    assert r["clean_accuracy"] == pytest.approx(summary["test"]["accuracy"])
    strong = r["table"][-1]
    assert strong["fgsm_accuracy"] < r["clean_accuracy"] - 0.1
    for row in r["table"]:
        assert row["pgd_accuracy"] <= row["fgsm_accuracy"]


def test_vit_learns_digits(tmp_path, no_report):
    cfg = config(
        tmp_path, "name=vit", "model.arch=vit", "model.hidden_size=32", "model.num_layers=2",
        "model.intermediate_size=64", "model.patch_size=4", "data.max_train_examples=600",
        "train.epochs=6", "train.lr=3e-3", "image.robustness.epsilons=[]",
    )  # fmt: skip
    summary = run_images(cfg, log=lambda _: None, live_progress=False)
    assert summary["test"]["accuracy"] > 0.6  # chance is 0.1
    assert "robustness" not in summary


def test_mim_loss_falls_and_its_encoder_starts_a_vit(tmp_path, no_report):
    sizes = ("model.hidden_size=32", "model.num_layers=2", "model.intermediate_size=64")
    cfg = config(
        tmp_path, "name=mim", "objective=mim", *sizes, "train.max_steps=40", "train.lr=3e-3"
    )
    summary = run_images(cfg, log=lambda _: None, live_progress=False)
    run = Path(summary["run_dir"])
    losses = train_losses(run)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert summary["task"] == "mim" and summary["test"]["loss"] < losses[0]
    # Below predicting every pixel's global mean (0.141 on digits): it uses positions and the
    # visible patches (with zero position embeddings it stalled exactly there).
    assert summary["test"]["loss"] < 0.13

    vit_cfg = config(tmp_path, "model.arch=vit", f"model.init_from={run}", *sizes)
    vit = build_image_classifier(vit_cfg.model, list("0123456789"), 8, 1, log=lambda _: None)
    from transformers import ViTMAEForPreTraining

    mae = ViTMAEForPreTraining.from_pretrained(str(run / "model")).state_dict()
    encoder = [k for k in mae if k.startswith("vit.")]
    assert len(encoder) > 10
    for key in encoder:
        torch.testing.assert_close(vit.state_dict()[key], mae[key])


def test_resume_with_augmentation_matches_an_uninterrupted_run(tmp_path, no_report):
    import pretune.recipes.images as images

    extra = ("model.arch=cnn", "model.cnn_widths=[8]", "data.max_train_examples=128",
             "train.max_steps=4", "train.checkpoint_every=2", "image.augment.rotate=10",
             "image.augment.shift=1", "image.robustness.epsilons=[]",
             "techniques.mixup.alpha=0.4", "image.adversarial_training.method=fgsm")  # fmt: skip
    whole = run_images(config(tmp_path, "name=whole", *extra), log=lambda _: None)

    with pytest.raises(Interrupted):
        images.run_images(
            config(tmp_path, "name=cut", *extra),
            log=lambda _: None,
            extra_handlers=[StopAfterCheckpoint(2)],
        )
    run_images(None, resume=tmp_path / "runs" / "cut", log=lambda _: None)  # type: ignore[arg-type]
    from safetensors.torch import load_file

    a = load_file(str(Path(whole["run_dir"]) / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "runs" / "cut" / "model" / "model.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key
