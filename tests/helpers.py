"""Test helpers shared by several test modules (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

TOPICS = {
    "sport": "match goal team coach league player score season win cup striker",
    "tech": "software chip phone internet computer data network app device code",
    "money": "bank market shares profit economy price investors growth rates trade",
}
FILLER = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "on",
    "for",
    "with",
    "at",
    "by",
    "from",
    "this",
    "that",
    "it",
    "was",
    "is",
    "said",
]


def make_rows(n_per_class: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts mixing topic words with filler; the topic words decide the label."""
    rng = random.Random(seed)
    rows = []
    for label, words in TOPICS.items():
        vocab = words.split()
        for _ in range(n_per_class):
            length = rng.randint(6, 30)
            text = " ".join(
                rng.choice(vocab) if rng.random() < 0.4 else rng.choice(FILLER)
                for _ in range(length)
            )
            rows.append((f"{text} {rng.randint(0, 10**6)}", label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tiny_overrides(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    """Overrides that make `pretune finetune` train the tiny model on tiny data in seconds."""
    return [
        f"data.source={data}",
        f"model.init_from={model}",
        f"output_dir={out}",
        "model.max_length=64",
        "train.batch_size=8",
        "train.lr=3e-3",
        "train.warmup_ratio=0",
        "train.log_every=5",
        *extra,
    ]


# One tiny fine-tuning run, checkpointed and evaluated every 2 of its 6 steps: the setting of the
# multi-process tests (DDP, FSDP), which compare N processes against one on the same batch.
MULTIPROCESS_SETTINGS = (
    "train.batch_size=8", "train.max_steps=6", "train.checkpoint_every=2",
    "train.eval_every=2", "train.num_threads=1", "train.keep_checkpoints=5",
    "train.keep_checkpoints_at_end=true",  # the tests compare the checkpoints of finished runs
)  # fmt: skip


def run_pretune_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m pretune ARGS` in a fresh process (torchrun launches need one)."""
    return subprocess.run(
        [sys.executable, "-m", "pretune", *args],
        capture_output=True, text=True, timeout=400, env={**os.environ, **(env or {})},
    )  # fmt: skip


class Interrupted(Exception):
    """Raised by `StopAfterCheckpoint` right after a checkpoint is written, and by
    `CrashAfterStep`."""


class CrashAfterStep:
    """A loop handler that "crashes" the run after optimizer step `step`, checkpoint or not
    (to test what a failed run leaves behind)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, state: Any) -> None:
        if state.step == self.step:
            raise Interrupted


class StopAfterCheckpoint:
    """A loop handler that "crashes" the run right after the checkpoint of `step` (put it
    after the standard handlers, which write the checkpoint), to test resuming."""

    def __init__(self, step: int) -> None:
        self.step = step

    def checkpoint(self, state: Any) -> None:
        if state.step == self.step:
            raise Interrupted
