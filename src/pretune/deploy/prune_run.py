"""Prune a finished run (optionally fine-tune it briefly after), or sweep the amount to get a
sparsity-vs-accuracy curve; every result is measured on the run's own test split."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pretune.deploy.measure import accuracy, measure_speed, model_bytes
from pretune.deploy.options import check_output
from pretune.deploy.prune import describe, prune_model
from pretune.errors import ConfigError
from pretune.process_state import leaves_process_as_found
from pretune.runs import (
    QUANTIZATION_FILE,
    RunModel,
    load_run_model,
    load_test_split,
    run_config,
    run_config_path,
)

__all__ = ["plot_curve", "prune_run", "prune_sweep"]

# cfg, log=, live_progress= -> the run summary (with "run_dir"): the finetune recipe's signature
TrainFn = Callable[..., dict[str, Any]]


def _measure(model: Any, split: Any, batch_size: int, repeats: int) -> dict[str, Any]:
    return {
        "accuracy": accuracy(model, split, batch_size),
        "examples_per_s": measure_speed(model, split, batch_size, repeats),
        "bytes": model_bytes(model),
        **describe(model),
    }


def _load(run: Path) -> RunModel:
    rm = load_run_model(run)
    if (rm.model_dir / QUANTIZATION_FILE).is_file():
        raise ConfigError(f"{rm.model_dir} is an int8 model; prune the float run instead")
    return rm


def _save(model: Any, rm: RunModel, output: Path) -> None:
    tmp = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    rm.tokenizer.save_pretrained(str(tmp))
    run_config = run_config_path(rm.run_dir, rm.model_dir)
    if run_config is not None:
        shutil.copy(run_config, tmp / "config.yaml")
    shutil.rmtree(output, ignore_errors=True)
    tmp.replace(output)


def _finetune(rm: RunModel, pruned_dir: Path, steps: int, train_fn: TrainFn) -> Path:
    """A short run of the finetune recipe starting from the pruned weights; its model folder."""
    overrides = [
        f"model.init_from={pruned_dir}",
        f"train.max_steps={steps}",
        f"output_dir={pruned_dir.parent}",
        f"name={pruned_dir.name}-finetuned",
    ]
    cfg = run_config(rm.run_dir, rm.model_dir, overrides)
    summary = train_fn(cfg, log=lambda _: None, live_progress=False)
    return Path(summary["run_dir"])


@leaves_process_as_found()
def prune_run(
    run: Path,
    method: str = "magnitude",
    amount: float = 0.3,
    output: Path | None = None,
    *,
    finetune_steps: int = 0,
    train_fn: TrainFn | None = None,
    batch_size: int = 32,
    repeats: int = 3,
    max_examples: int | None = None,
) -> dict[str, Any]:
    """Prune a run's model, save it to `output` (default `<run>/model-pruned-<method>`).

    With `finetune_steps`, the finetune recipe then trains the pruned model for that many steps
    (a new run folder beside `output`) with `train_fn` (the CLI passes `run_finetune`: a
    parameter, so deploy never imports the recipes above it). Zeroing methods (magnitude,
    heads) are applied again after fine-tuning, since training revives zeroed weights.

    Returns:
        Accuracy, examples/s, size and structure before and after (and after fine-tuning).
    """
    if finetune_steps and train_fn is None:
        raise ConfigError("finetune_steps needs train_fn, the training function to run")
    rm = _load(run)
    output = check_output(Path(output or Path(run) / f"model-pruned-{method}"), Path(run))
    split = load_test_split(rm, max_examples)
    pruned = prune_model(rm.model, method, amount)
    report: dict[str, Any] = {"method": method, "amount": amount, "output": str(output)}
    report["before"] = _measure(rm.model, split, batch_size, repeats)
    report["after"] = _measure(pruned, split, batch_size, repeats)
    _save(pruned, rm, output)
    if finetune_steps:
        tuned_run = _finetune(rm, output, finetune_steps, train_fn)
        tuned = load_run_model(tuned_run).model
        if method in ("magnitude", "heads"):
            tuned = prune_model(tuned, method, amount)
        report["after_finetune"] = _measure(tuned, split, batch_size, repeats)
        report["after_finetune"]["steps"] = finetune_steps
        _save(tuned, load_run_model(tuned_run), output)
        report["finetune_run"] = str(tuned_run)
    report["speedup"] = report["after"]["examples_per_s"] / report["before"]["examples_per_s"]
    report["size_ratio"] = report["after"]["bytes"] / report["before"]["bytes"]
    (output / "prune_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def prune_sweep(
    run: Path,
    method: str,
    amounts: list[float],
    output: Path | None = None,
    *,
    batch_size: int = 32,
    repeats: int = 3,
    max_examples: int | None = None,
) -> dict[str, Any]:
    """Accuracy, sparsity, size and speed at each amount (no fine-tuning); JSON + PNG out."""
    rm = _load(run)
    output = Path(output or Path(run) / "prune-curves")
    split = load_test_split(rm, max_examples)
    points = [{"amount": 0.0, **_measure(rm.model, split, batch_size, repeats)}]
    for amount in amounts:
        pruned = prune_model(rm.model, method, amount)
        points.append({"amount": amount, **_measure(pruned, split, batch_size, repeats)})
        del pruned
    curve = {"method": method, "test_examples": len(split), "threads": torch.get_num_threads()}
    curve["points"] = points
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{method}.json").write_text(json.dumps(curve, indent=2) + "\n")
    curve["plot"] = str(plot_curve(curve, output / f"{method}.png"))
    curve["output"] = str(output)
    return curve


def plot_curve(curve: dict[str, Any], path: Path) -> Path:
    """Accuracy and relative speed against the pruned amount, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    amounts = [p["amount"] for p in curve["points"]]
    base = curve["points"][0]["examples_per_s"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(amounts, [p["accuracy"] for p in curve["points"]], "o-", label="test accuracy")
    speed = [p["examples_per_s"] / base for p in curve["points"]]
    ax.plot(amounts, speed, "s--", label="speed (x unpruned)")
    ax.set_xlabel(f"amount pruned ({curve['method']})")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
