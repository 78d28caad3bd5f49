"""What a model costs: parameters, FLOPs per example, latency, throughput, peak memory.

Measurements are deliberately small (one batch for FLOPs, ~20 single examples for latency, a few
batch sizes for throughput) so they add seconds, not minutes, to a run.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from pretune.data.encode import EncodedSplit

__all__ = [
    "count_parameters",
    "efficiency_section",
    "flops_per_example",
    "latency_ms",
    "peak_memory_mb",
    "throughput",
]


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(total), int(trainable)


def _forward(model: torch.nn.Module, device: torch.device) -> Callable[[dict], Any]:
    def run(batch: dict[str, torch.Tensor]) -> Any:
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with torch.inference_mode():
            return model(**inputs)

    return run


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_example(
    model: torch.nn.Module, split: EncodedSplit, device: torch.device, batch_size: int = 8
) -> float:
    """Forward FLOPs per example on the first `batch_size` rows (torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    indices = list(range(min(batch_size, len(split))))
    counter = FlopCounterMode(display=False)
    with counter:
        _forward(model, device)(split.load(indices))
    return counter.get_total_flops() / len(indices)


def latency_ms(
    model: torch.nn.Module, split: EncodedSplit, device: torch.device, n: int = 20
) -> list[float]:
    """Milliseconds per call at batch size 1 over the first `n` rows (after one warm-up)."""
    run = _forward(model, device)
    rows = list(range(min(n, len(split))))
    run(split.load(rows[:1]))  # warm-up: first-call allocations are not latency
    times = []
    for i in rows:
        batch = split.load([i])
        _sync(device)
        start = time.perf_counter()
        run(batch)
        _sync(device)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def throughput(
    model: torch.nn.Module,
    split: EncodedSplit,
    device: torch.device,
    batch_sizes: Sequence[int] = (8, 32),
    rows: int = 32,
) -> tuple[float, int]:
    """(best examples/s, its batch size) over the first `rows` rows at each batch size."""
    run = _forward(model, device)
    indices = list(range(min(rows, len(split))))
    best = (0.0, batch_sizes[0])
    for size in batch_sizes:
        batches = [indices[i : i + size] for i in range(0, len(indices), size)]
        run(split.load(batches[0]))  # warm-up at this shape
        _sync(device)
        start = time.perf_counter()
        for batch in batches:
            run(split.load(batch))
        _sync(device)
        rate = len(indices) / max(time.perf_counter() - start, 1e-9)
        if rate > best[0]:
            best = (rate, size)
    return best


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak resident memory of this process (MB), or peak GPU memory on a CUDA device."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def efficiency_section(
    model: torch.nn.Module,
    split: EncodedSplit,
    device: torch.device,
    *,
    train_seconds: float | None = None,
    train_examples: int | None = None,
    train_tokens: int | None = None,
) -> dict[str, Any]:
    """The ``summary["efficiency"]`` section, measured on `split` (any non-empty split)."""
    total, trainable = count_parameters(model)
    was_training = model.training
    model.eval()
    latencies = latency_ms(model, split, device)
    rate, best_size = throughput(model, split, device)
    section = {
        "parameters": total,
        "trainable_parameters": trainable,
        "flops_per_example": flops_per_example(model, split, device),
        "train_seconds": train_seconds,
        "train_examples_per_s": None,
        "train_tokens_per_s": None,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 3),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 3),
        "throughput_examples_per_s": round(rate, 2),
        "best_batch_size": best_size,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
    }
    model.train(was_training)
    if train_seconds:
        if train_examples is not None:
            section["train_examples_per_s"] = round(train_examples / train_seconds, 2)
        if train_tokens is not None:
            section["train_tokens_per_s"] = round(train_tokens / train_seconds, 2)
    return section
