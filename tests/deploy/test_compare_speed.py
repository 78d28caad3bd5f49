"""compare_speed (deploy/measure.py): interleaved timing of several models on one split."""

from __future__ import annotations

import pytest

from pretune.deploy.measure import accuracy, compare_speed
from pretune.runs import load_run_model, load_test_split, quantize_model


def test_interleaved_passes_give_each_models_accuracy_and_speed(tiny_run):
    rm = load_run_model(tiny_run)
    split = load_test_split(rm)
    models = {"float32": rm.model, "int8": quantize_model(rm.model)}
    report = compare_speed(models, split, batch_size=4, repeats=2)
    for name, model in models.items():
        # Counted on the timed passes, it must equal a separate accuracy pass.
        assert report[name]["accuracy"] == pytest.approx(accuracy(model, split, 4))
        assert len(report[name]["examples_per_s_passes"]) == 2
        assert report[name]["examples_per_s"] > 0
        assert report[name]["examples_per_cpu_s"] > 0
