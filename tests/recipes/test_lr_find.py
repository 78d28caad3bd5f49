"""`pretune lr-find`: the sweep, the smoothing, the suggestion, and the files it writes."""

from __future__ import annotations

import json
import math

import pytest

from helpers import tiny_overrides
from pretune.cli.lr_find import split_sweep_options
from pretune.cli.main import main
from pretune.errors import ConfigError
from pretune.recipes.lr_find import lr_sweep, smooth_losses, suggest_lr


def test_sweep_is_geometric() -> None:
    lrs = lr_sweep(1e-6, 1e-2, 5)
    assert lrs == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3, 1e-2])
    with pytest.raises(ConfigError, match="min_lr < max_lr"):
        lr_sweep(1.0, 1e-3, 10)


def test_smoothing_is_bias_corrected() -> None:
    assert smooth_losses([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    smoothed = smooth_losses([1.0, 0.0], beta=0.5)
    assert smoothed == pytest.approx([1.0, 1 / 3])


def test_suggestion_is_the_steepest_fall_before_the_minimum() -> None:
    lrs = [10.0**e for e in range(-7, 1)]  # 1e-7 .. 1
    # flat, falls a little, falls steeply between 1e-4 and 1e-3, minimum at 1e-2, then diverges
    losses = [2.0, 2.0, 1.9, 1.8, 1.0, 0.8, 0.7, 5.0]
    assert suggest_lr(lrs, losses) == pytest.approx(1e-4)
    assert suggest_lr(lrs, [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]) is None


def test_sweep_options_are_split_from_config_overrides() -> None:
    options, rest = split_sweep_options(["steps=20", "train.lr=1", "max_lr=0.1"])
    assert options == {"steps": 20, "max_lr": 0.1} and rest == ["train.lr=1"]
    with pytest.raises(ConfigError, match="steps"):
        split_sweep_options(["steps=many"])


@pytest.mark.slow
def test_lr_find_cli_writes_plot_json_and_prints_a_suggestion(
    tiny_csv, tiny_bert, tmp_path, capsys
) -> None:
    args = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=sweep", "model.max_length=32")
    code = main(["lr-find", *args, "min_lr=1e-4", "max_lr=3", "steps=60"])
    assert code == 0
    out = capsys.readouterr().out
    assert "suggested lr:" in out
    run = tmp_path / "sweep"
    result = json.loads((run / "lr_find.json").read_text())
    assert (run / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert result["lrs"][0] == pytest.approx(1e-4)
    assert len(result["losses"]) == len(result["lrs"]) <= 60
    assert 1e-4 < result["suggested_lr"] < 3
    assert all(math.isfinite(x) for x in result["smoothed"])
    # the suggestion sits where the loss falls: the smoothed loss at its minimum is lower
    # than at the start of the sweep
    assert min(result["smoothed"]) < result["smoothed"][0]
    assert not (run / "model").exists()  # a sweep saves no model


def test_lr_find_can_first_find_a_batch_size_that_fits(
    tiny_csv, tiny_bert, tmp_path, monkeypatch
) -> None:
    import pretune.recipes.lr_find as lr_find
    from pretune.config import load_config

    real_probe = lr_find.training_probe
    tried: list[int] = []

    def probe_with_small_memory(task, split, device):
        step = real_probe(task, split, device)

        def limited(size: int) -> None:
            tried.append(size)
            if size > 4:  # pretend larger batches exhaust the device
                raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")
            step(size)

        return limited

    monkeypatch.setattr(lr_find, "training_probe", probe_with_small_memory)
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, tmp_path, "model.max_length=32"))
    result = lr_find.run_lr_find(cfg, steps=6, find_batch_size=16, log=lambda _: None)
    assert tried == [16, 8, 4]
    assert result["batch_size"] == 4
    assert len(result["losses"]) == 6
