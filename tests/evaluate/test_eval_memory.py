"""Evaluation memory stays flat as the evaluation set grows: 16x more rows, no more peak memory
(beyond the encoded rows themselves, which exist before evaluation starts).

Each size runs in its own process and reads the process's peak resident memory (ru_maxrss)
just before and just after `evaluate_split`: torch's CPU allocator has no peak counter of its
own, and a fresh process keeps one size's allocations from hiding the other's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, resource, sys
import torch
from transformers import AutoModelForSequenceClassification
from pretune.data.encode import encode_split
from pretune.evaluate.evaluator import evaluate_split
from pretune.models.load import load_tokenizer
from pretune.tasks.classify import ClassifyTask

model_dir, rows = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
tokenizer = load_tokenizer(model_dir)
words = "the market team vote film match bank goal data".split()
texts = [" ".join(words[(i + j) % len(words)] for j in range(40 + i % 20)) for i in range(rows)]
split = encode_split(tokenizer, texts, max_length=64, labels=[i % 3 for i in range(rows)])
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3)
task = ClassifyTask(model, ["a", "b", "c"])
evaluate_split(task, encode_split(tokenizer, texts[:64], max_length=64, labels=[0] * 64), 64,
               torch.device("cpu"), ["a", "b", "c"])  # warm-up: allocator pools, lazy imports
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
metrics = evaluate_split(task, split, 64, torch.device("cpu"), ["a", "b", "c"])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kb": after - before, "accuracy": metrics["accuracy"]}))
"""


def _peak_growth_kb(model_dir: Path, rows: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model_dir), str(rows)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_evaluation_peak_memory_does_not_grow_with_the_set(tiny_bert: Path) -> None:
    small = _peak_growth_kb(tiny_bert, 1_000)
    large = _peak_growth_kb(tiny_bert, 16_000)
    assert 0.0 <= large["accuracy"] <= 1.0
    # One forward over all 16,000 rows would need > 100 MB of activations; batch by batch the
    # peak is a few batches' worth whatever the set's size.
    assert large["growth_kb"] - small["growth_kb"] < 20_000, (small, large)
