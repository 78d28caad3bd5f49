"""The evaluation sections every fine-tuning run writes, and `pretune evaluate` on the tiny model:
its own test split, cross-domain data with unknown labels, calibration, human review."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from helpers import make_rows, tiny_overrides, write_csv
from pretune.cli.main import main
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune


@pytest.fixture(scope="module")
def run(tiny_csv, tiny_bert, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("eval-runs")
    # 30 validation rows: enough for calibrate=true (pretune.tasks.result_checks.MIN_EVAL_ROWS).
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, "name=e", "train.epochs=4",
                                           "data.val_fraction=0.2"))  # fmt: skip
    return run_finetune(cfg, log=lambda _: None, live_progress=False)


def _pairs(confusion: list[list[int]]) -> tuple[list[int], list[int]]:
    """(true, predicted) class pairs, as many of each as the confusion matrix counts."""
    pairs = [(i, j) for i, row in enumerate(confusion) for j, n in enumerate(row) for _ in range(n)]
    return [i for i, _ in pairs], [j for _, j in pairs]


def test_summary_has_every_evaluation_section(run):
    summary = json.loads((Path(run["run_dir"]) / "summary.json").read_text())
    test = summary["test"]
    for key in ("roc_auc_macro", "pr_auc_macro", "log_loss", "top2_accuracy", "mcc"):
        assert isinstance(test[key], float), key
    # The numbers are those of the test predictions (the confusion matrix): exact, on any CPU.
    truth, predicted = _pairs(test["confusion_matrix"])
    assert test["count"] == len(truth) == 15
    assert test["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert test["macro_f1"] == pytest.approx(skm.f1_score(truth, predicted, average="macro"))
    assert test["mcc"] == pytest.approx(skm.matthews_corrcoef(truth, predicted))
    assert test["log_loss"] == pytest.approx(test["loss"], abs=1e-4)  # same thing, two ways
    # The toy learns: a clear margin above chance (1/3 and 0.5), not the value it reaches.
    assert test["accuracy"] > 0.45 and test["roc_auc_macro"] > 0.6
    curves = summary["curves"]
    assert set(curves["roc"]) == {"money", "sport", "tech"}
    assert curves["roc"]["sport"]["fpr"][0] == 0.0 and curves["roc"]["sport"]["tpr"][-1] == 1.0
    assert sum(curves["reliability"]["count"]) == test["count"]
    cal = summary["calibration"]
    assert cal["temperature"] > 0 and cal["ece_after"] is not None
    errors = summary["errors"]
    wrong = test["count"] - round(test["accuracy"] * test["count"])
    assert len(errors["confident_mistakes"]) == min(20, wrong)
    assert set(errors["per_class_error"]) == {"money", "sport", "tech"}
    assert sum(b["count"] for b in errors["by_length"]) == test["count"]
    eff = summary["efficiency"]
    assert eff["parameters"] >= eff["trainable_parameters"] > 0
    assert eff["flops_per_example"] > 0
    assert 0 < eff["latency_ms_p50"] <= eff["latency_ms_p95"]
    assert eff["throughput_examples_per_s"] > 0 and eff["best_batch_size"] in (8, 32)
    assert eff["train_examples_per_s"] > 0 and eff["train_tokens_per_s"] > 0
    assert eff["peak_memory_mb"] > 10


def test_evaluate_own_test_split_reproduces_the_summary(run, capsys):
    assert main(["evaluate", run["run_dir"], "calibrate=true", "--save"]) == 0
    assert "accuracy" in capsys.readouterr().out
    folder = Path(run["run_dir"]) / "eval" / "test"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["count"] == run["test"]["count"]
    assert metrics["metrics"]["accuracy"] == pytest.approx(run["test"]["accuracy"])
    assert metrics["metrics"]["roc_auc_macro"] == pytest.approx(run["test"]["roc_auc_macro"])
    assert metrics["calibration"]["temperature"] == pytest.approx(
        run["calibration"]["temperature"], rel=1e-3
    )
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == metrics["count"]
    assert sum(r["correct"] for r in rows) == round(metrics["metrics"]["accuracy"] * len(rows))
    # The saved metrics are scikit-learn's on the saved predictions.
    names = sorted(rows[0]["probabilities"])
    truth = [names.index(r["label"]) for r in rows]
    probs = np.array([[r["probabilities"][n] for n in names] for r in rows])
    assert metrics["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(truth, probs.argmax(1))
    )
    assert metrics["metrics"]["roc_auc_macro"] == pytest.approx(
        skm.roc_auc_score(truth, probs, multi_class="ovr"), abs=1e-6
    )
    assert "calibrated_confidence" in rows[0]


def test_cross_domain_matches_labels_by_name_and_counts_unknown(run, tmp_path, capsys):
    rows = [(text, label.upper()) for text, label in make_rows(5, seed=7)]
    rows += [("what a lovely recipe for soup", "food"), ("bake the bread slowly", "food")]
    data = write_csv(tmp_path / "other.csv", rows, header=("body", "topic"))
    code = main(["evaluate", run["run_dir"], f"data={data}", "text_column=body",
                 "label_column=topic", "name=other", "--save"])  # fmt: skip
    assert code == 0
    assert "food" in capsys.readouterr().err
    metrics = json.loads((Path(run["run_dir"]) / "eval/other/metrics.json").read_text())
    assert metrics["count"] == 15 and metrics["unknown_labels"] == {"food": 2}
    assert metrics["skipped_rows"] == 2


def test_export_then_human_review(run, tmp_path, capsys):
    review = tmp_path / "review.csv"
    assert main(["evaluate", run["run_dir"], f"export={review}", "sample=6"]) == 0
    with review.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and all(r["human_label"] == "" for r in rows)
    assert set(rows[0]) == {"id", "text", "predicted", "confidence", "human_label"}
    # People agree with the model on 4 rows and disagree on 1; one row stays unreviewed.
    other = {"sport": "tech", "tech": "money", "money": "sport"}
    for i, row in enumerate(rows[:5]):
        row["human_label"] = row["predicted"] if i < 4 else other[row["predicted"]]
    with review.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["evaluate", run["run_dir"], f"human={review}", "name=reviewed", "--save"]) == 0
    human = json.loads((Path(run["run_dir"]) / "eval/reviewed/metrics.json").read_text())["human"]
    assert human["reviewed"] == 5 and human["model_human_agreement"] == pytest.approx(0.8)


def test_attack_runs_or_says_it_is_unavailable(run, capsys):
    code = main(
        ["evaluate", run["run_dir"], "--save", "attack=fgsm", "epsilon=0.5", "name=attacked"]
    )
    if importlib.util.find_spec("pretune.evaluate.robustness") is None:
        assert code == 2
        assert "adversarial evaluation is not available" in capsys.readouterr().err
        return
    assert code == 0
    saved = json.loads((Path(run["run_dir"]) / "eval/attacked/metrics.json").read_text())
    attack = saved["attack"]
    assert attack["method"] == "fgsm" and attack["epsilon"] == 0.5
    assert attack["clean_accuracy"] == pytest.approx(saved["metrics"]["accuracy"])
    assert attack["attacked_accuracy"] <= attack["clean_accuracy"]


def test_bad_options_and_folders(run, tmp_path, capsys):
    assert main(["evaluate", run["run_dir"], "calibrat=true"]) == 2
    assert "did you mean 'calibrate'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a finished pretune run" in capsys.readouterr().err
    assert main(["evaluate", run["run_dir"], f"human={tmp_path / 'none.csv'}"]) == 2
    assert "export=" in capsys.readouterr().err
    foreign = write_csv(tmp_path / "food.csv", [("soup", "food"), ("bread", "bakery")])
    assert main(["evaluate", run["run_dir"], f"data={foreign}"]) == 2
    assert "none of its labels" in capsys.readouterr().err
