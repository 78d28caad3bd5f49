"""Noisy labels on BBC: with 40% of the training labels flipped, generalised cross-entropy
beats plain cross-entropy on the clean test split (benchmarks/label_noise.py, small setting).

A linear probe of MiniLM (body frozen) keeps it cheap: 200 training rows of 32 tokens.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SMALL = (
    "model.max_length=32",
    "train.epochs=4",
    "train.lr=2e-2",
    "train.batch_size=20",
    "train.num_threads=1",
)


def _benchmark():
    spec = importlib.util.spec_from_file_location("noise_bench", ROOT / "benchmarks/label_noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generalized_ce_beats_cross_entropy_under_40_percent_label_noise(tmp_path):
    bench = _benchmark()
    files = bench.noisy_bbc_files(tmp_path, examples=200, noise=0.4, test_examples=150)
    assert files["flipped"] == 80
    accuracy = bench.run_losses(
        files, ["cross_entropy", "generalized_ce"], tmp_path / "runs", SMALL
    )
    print(accuracy)
    # Measured: cross_entropy 0.587, generalized_ce 0.720 on one machine, 0.633 and 0.700 on
    # another (150 test rows; chance on 5 classes: about 0.23). The gap moves with the CPU's
    # float kernels, so the bar is the ranking (GCE ahead), not a gap the run sits near.
    assert accuracy["cross_entropy"] > 0.4
    assert accuracy["generalized_ce"] > accuracy["cross_entropy"]
