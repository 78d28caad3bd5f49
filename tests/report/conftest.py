"""Fixtures for the report tests: run folders written by hand, with every summary.json section
of the shared schema (so the renderers are tested without training anything)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

LABELS = ["business", "sport", "tech"]


def full_summary(accuracy: float = 0.8, loss: float = 0.5) -> dict[str, Any]:
    """A summary.json with every section of the evaluation schema filled in."""
    curve = {"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.8, 1.0], "auc": 0.9}
    pr = {"precision": [1.0, 0.8, 0.5], "recall": [0.0, 0.7, 1.0], "auc": 0.85}
    mistake = {"text": "shares fell", "label": "business", "predicted": "tech", "confidence": 0.9}
    return {
        "task": "classify",
        "labels": LABELS,
        "test": {
            "accuracy": accuracy, "macro_f1": accuracy - 0.05, "micro_f1": accuracy,
            "weighted_f1": accuracy, "macro_precision": 0.8, "macro_recall": 0.8, "loss": loss,
            "roc_auc_macro": 0.9, "pr_auc_macro": 0.85, "log_loss": loss, "top2_accuracy": 0.95,
            "mcc": 0.7, "count": 30,
            "confusion_matrix": [[8, 1, 1], [0, 10, 0], [2, 0, 8]],
            "per_class": {
                name: {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 10}
                for name in LABELS
            },
        },
        "best_validation": {"metric": "accuracy", "value": accuracy, "step": 20},
        "steps": 30,
        "epochs": 3.0,
        "data": {
            "sizes": {"train": 240, "validation": 30, "test": 30},
            "train_label_counts": {"business": 80, "sport": 90, "tech": 70},
            "truncated_fraction": {"train": 0.1, "validation": 0.0, "test": 0.05},
            "cleaning": {
                "news.csv": {
                    "rows_in": 310,
                    "rows_out": 300,
                    "steps": [{"name": "exact duplicates", "removed": 10, "examples": ["a b"]}],
                }
            },
        },
        "timing": {"train_seconds": 12.5, "total_seconds": 14.0, "train_examples_per_s": 57.6},
        "environment": {"python": "3.11.7", "packages": {"torch": "2.13.0"}},
        "curves": {
            "roc": {name: curve for name in LABELS},
            "pr": {name: pr for name in LABELS},
            "reliability": {
                "confidence": [0.45, 0.75, 0.95], "accuracy": [0.4, 0.7, 0.9],
                "count": [3, 7, 20], "ece": 0.04,
            },
        },
        "calibration": {"ece": 0.04, "ece_after": 0.02, "temperature": 1.3},
        "errors": {
            "confident_mistakes": [mistake],
            "confused_pairs": [{"true": "tech", "predicted": "business", "count": 2}],
            "per_class_error": {"business": 0.2, "sport": 0.0, "tech": 0.2},
            "by_length": [{"bucket": "0-64", "count": 30, "accuracy": accuracy}],
            "possible_label_errors": [mistake],
        },
        "efficiency": {
            "parameters": 22_000_000, "trainable_parameters": 22_000_000,
            "flops_per_example": 1.2e9, "train_seconds": 12.5, "train_examples_per_s": 57.6,
            "train_tokens_per_s": 9000.0, "latency_ms_p50": 8.2, "latency_ms_p95": 11.0,
            "throughput_examples_per_s": 300.0, "best_batch_size": 32, "peak_memory_mb": 900.0,
        },
    }  # fmt: skip


def metrics_records(final_loss: float = 0.5) -> list[dict[str, Any]]:
    records = []
    for step in range(5, 35, 5):
        loss = 1.1 - (1.1 - final_loss) * step / 30
        records.append(
            {"split": "train", "step": step, "epoch": step / 10, "loss": loss, "lr": 1e-4,
             "grad_norm": 1.0, "examples_per_s": 50.0, "tokens_per_s": 8000.0}
        )  # fmt: skip
        if step % 10 == 0:
            records.append(
                {"split": "validation", "step": step, "accuracy": 0.5 + step / 100,
                 "macro_f1": 0.45 + step / 100, "loss": loss + 0.05}
            )  # fmt: skip
    return records


def write_run(
    folder: Path,
    *,
    summary: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    records: list[dict[str, Any]] | None = None,
) -> Path:
    """A run folder holding whichever of the three files are given."""
    folder.mkdir(parents=True, exist_ok=True)
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    if records is not None:
        lines = "".join(json.dumps(r) + "\n" for r in records)
        (folder / "metrics.jsonl").write_text(lines, encoding="utf-8")
    return folder


def run_config(name: str, lr: float = 5e-5) -> dict[str, Any]:
    return {
        "name": name,
        "output_dir": "runs",
        "data": {"source": "news.csv"},
        "model": {"init_from": "minilm", "max_length": 128},
        "train": {"lr": lr, "epochs": 3},
        "eval": {"metric": "accuracy"},
        "techniques": {},
    }


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """`make_run(name, summary=..., config=..., records=...)` -> a run folder under tmp_path."""

    def _make(name: str, **files: Any) -> Path:
        return write_run(tmp_path / "runs" / name, **files)

    return _make


@pytest.fixture
def full_run(make_run: Callable[..., Path]) -> Path:
    """A finished run with every section of the schema."""
    return make_run(
        "full", summary=full_summary(), config=run_config("full"), records=metrics_records()
    )


@pytest.fixture
def summary_factory() -> Callable[..., dict[str, Any]]:
    """`full_summary(accuracy=..., loss=...)`: a fresh, editable full summary dict."""
    return full_summary


@pytest.fixture
def two_runs(make_run: Callable[..., Path]) -> tuple[Path, Path]:
    """Run "fast" (better accuracy, lr 5e-5) and run "slow" (better loss, lr 1e-4)."""
    fast = make_run(
        "fast",
        summary=full_summary(accuracy=0.9, loss=0.6),
        config=run_config("fast"),
        records=metrics_records(0.6),
    )
    slow = make_run(
        "slow",
        summary=full_summary(accuracy=0.7, loss=0.4),
        config=run_config("slow", lr=1e-4),
        records=metrics_records(0.4),
    )
    return fast, slow
