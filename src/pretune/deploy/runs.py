"""What every deployment step needs from a finished run: its model, its test split (re-created
from the saved config and seed, exactly as training split it), and honest measurements of
accuracy, speed and size on that split."""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit, encode_labels, encode_split
from pretune.errors import CheckpointError, ConfigError
from pretune.models.load import load_tokenizer
from pretune.recipes.predict import find_model_dir

__all__ = [
    "QUANTIZATION_FILE",
    "RunModel",
    "accuracy",
    "check_output",
    "compare_speed",
    "load_run_model",
    "load_test_split",
    "measure_speed",
    "model_bytes",
    "parse_options",
    "require",
    "run_config_path",
]

# A model folder holding this file is a dynamically quantised one (see deploy/quantize.py).
QUANTIZATION_FILE = "quantization.json"


@dataclass
class RunModel:
    """A run's classifier (eval mode, CPU), its tokenizer, label names and max length."""

    run_dir: Path
    model_dir: Path
    model: Any
    tokenizer: Any
    label_names: list[str]
    max_length: int


def load_run_model(run: Path) -> RunModel:
    """Load the classifier of a run folder (or of a model folder, e.g. an int8 or pruned one).

    A folder with `quantization.json` is quantised again on load, which gives exactly the saved
    int8 model: dynamic quantisation is a deterministic function of the float weights.
    """
    from transformers import AutoModelForSequenceClassification

    run = Path(run)
    model_dir = find_model_dir(run)
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    if (model_dir / QUANTIZATION_FILE).is_file():
        from pretune.deploy.quantize import quantize_model

        model = quantize_model(model)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return RunModel(
        run, model_dir, model, tokenizer, names, run_max_length(run, model_dir, tokenizer)
    )


def run_config_path(run: Path, model_dir: Path) -> Path | None:
    """The config.yaml that trained this model: in the run, the model folder or its parent."""
    for folder in (run, model_dir, model_dir.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def run_max_length(run: Path, model_dir: Path, tokenizer: Any) -> int:
    """The max length the model was trained with (its run config), else the tokenizer's (<= 512)."""
    path = run_config_path(run, model_dir)
    if path is not None:
        from pretune.config import load_config

        return load_config(path).model.max_length
    return min(int(getattr(tokenizer, "model_max_length", 512)), 512)


def load_test_split(rm: RunModel, max_examples: int | None = None) -> EncodedSplit:
    """The run's test split, re-created from its config.yaml with the same seed, encoded."""
    from pretune.config import load_config
    from pretune.data.text_classification import prepare_data

    path = run_config_path(rm.run_dir, rm.model_dir)
    if path is None:
        raise CheckpointError(
            f"{rm.run_dir} has no config.yaml; give the run folder, not only its model/"
        )
    cfg = load_config(path)
    data = prepare_data(cfg.data, cfg.seed).splits["test"]
    if len(data) == 0:
        raise ConfigError(f"{path}: the run has no test split (data.test_fraction=0)")
    if max_examples and max_examples < len(data):
        # A seeded sample, not the first rows: the split may be ordered by label.
        data = data.shuffle(seed=cfg.seed).select(range(max_examples))
    labels = encode_labels(data["label"], rm.label_names, "test split")
    return encode_split(rm.tokenizer, data["text"], max_length=rm.max_length, labels=labels)


def _forward_all(model: Any, split: EncodedSplit, batch_size: int) -> tuple[int, int]:
    correct = total = 0
    with torch.inference_mode():
        for indices in inference_batches(split.lengths, batch_size):
            batch = split.load(indices)
            labels = batch.pop("labels", None)
            logits = model(**batch).logits
            if labels is not None:
                correct += int((logits.argmax(-1) == labels).sum())
            total += len(indices)
    return correct, total


def accuracy(model: Any, split: EncodedSplit, batch_size: int = 32) -> float:
    """Share of the split's rows the model labels correctly."""
    correct, total = _forward_all(model, split, batch_size)
    return correct / max(total, 1)


def measure_speed(model: Any, split: EncodedSplit, batch_size: int = 32, repeats: int = 3) -> float:
    """Examples per second over the whole split (same batches every time), best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _forward_all(model, split, batch_size)
        best = min(best, time.perf_counter() - start)
    return len(split) / best


def compare_speed(
    models: dict[str, Any], split: EncodedSplit, batch_size: int = 32, repeats: int = 3
) -> dict[str, Any]:
    """Speed and accuracy of several models on the same split, measured fairly on a busy machine.

    Timing each model in its own block of passes lets a change in the machine's load between
    the blocks read as a speed difference. Here every batch runs through all models back to
    back, the order reversed from batch to batch and from pass to pass, so they share the load
    to within a second. Per model: the median over `repeats` passes of examples/s (wall clock)
    and of examples per CPU second (this process only, the least disturbed by other jobs), the
    per-pass rates, and the accuracy (the same in every pass).
    """
    names = list(models)
    batches = inference_batches(split.lengths, batch_size)
    with torch.inference_mode():  # first-call allocations and kernel choice: not timed
        warm = split.load(batches[-1])
        warm.pop("labels", None)
        for name in names:
            models[name](**warm)
    passes = []
    for repeat in range(repeats):
        totals = {name: {"wall": 0.0, "cpu": 0.0, "correct": 0} for name in names}
        with torch.inference_mode():
            for number, indices in enumerate(batches):
                batch = split.load(indices)
                labels = batch.pop("labels", None)
                for name in names if (number + repeat) % 2 == 0 else names[::-1]:
                    wall, cpu = time.perf_counter(), time.process_time()
                    logits = models[name](**batch).logits
                    totals[name]["wall"] += time.perf_counter() - wall
                    totals[name]["cpu"] += time.process_time() - cpu
                    if labels is not None:
                        totals[name]["correct"] += int((logits.argmax(-1) == labels).sum())
        passes.append(totals)
    n = len(split)
    report: dict[str, Any] = {}
    for name in names:
        wall = [n / max(p[name]["wall"], 1e-9) for p in passes]
        cpu = [n / max(p[name]["cpu"], 1e-9) for p in passes]
        report[name] = {
            "accuracy": passes[0][name]["correct"] / max(n, 1),
            "examples_per_s": statistics.median(wall),
            "examples_per_cpu_s": statistics.median(cpu),
            "examples_per_s_passes": [round(r, 3) for r in wall],
        }
    return report


def model_bytes(model: Any) -> int:
    """Size of the model's state dict when serialised (int8 packed weights count as stored)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def parse_options(items: list[str], allowed: dict[str, type]) -> dict[str, Any]:
    """`["amount=0.3", "method=heads"]` -> typed dict; unknown keys or bad values: ConfigError."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise ConfigError(
                f"unexpected argument '{item}': use key=value with keys {', '.join(allowed)}"
            )
        try:
            options[key] = allowed[key](value)
        except ValueError:
            raise ConfigError(f"{key}={value}: not a valid {allowed[key].__name__}") from None
    return options


def check_output(output: Path, source: Path) -> Path:
    """Refuse to overwrite the run's own model folder."""
    if output.resolve() == find_model_dir(source).resolve():
        raise ConfigError(f"output={output} is the run's own model folder; choose another")
    return output


def require(module: str, command: str) -> None:
    """A clear error (not an ImportError traceback) when an optional package is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{command} needs the '{module}' package: pip install 'pretune[deploy]' "
            "(or `make install`)"
        )
