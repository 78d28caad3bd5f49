"""Adversarial training through the real recipe on the tiny model: it trains, and the attack
report comes out for plain and FGM-trained models alike (benchmarks/adversarial.py).

The tiny model's test split has 15 rows: too few to compare robustness; the BBC numbers are
in docs/techniques.md."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from helpers import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("adv_bench", ROOT / "benchmarks/adversarial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_plain_vs_fgm_under_pgd_attack(tiny_csv, tiny_bert, tmp_path):
    overrides = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "train.max_steps=6",
                               "train.num_threads=1", "model.max_length=32")  # fmt: skip
    results = _benchmark().compare(
        overrides, tmp_path, ["plain", "fgm"], epsilon=0.03, train_epsilon=0.01
    )
    print(json.dumps(results))
    for name in ("plain", "fgm"):
        assert set(results[name]) == {"clean_accuracy", "pgd_accuracy", "train_seconds"}
        assert 0 <= results[name]["pgd_accuracy"] <= results[name]["clean_accuracy"] <= 1
