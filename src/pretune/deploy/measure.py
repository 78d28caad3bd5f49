"""Honest measurements of a model on a run's test split: accuracy, speed (fair on a busy
machine) and serialised size."""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import torch

from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit

__all__ = ["accuracy", "compare_speed", "measure_speed", "model_bytes"]


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
