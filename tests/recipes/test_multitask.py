"""`pretune multitask` end to end on the tiny model: both tasks learn, the run folder holds one
usable model per head, a resumed run matches an uninterrupted one, bad task lists exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from helpers import make_rows
from pretune.catalog import load_recipe_config
from pretune.cli.main import main
from pretune.recipes.multitask import run_multitask

# Two label columns of one dataset. (On this 2-layer, 32-wide model at lr 3e-3 an auxiliary
# MLM loss swamps the topic head; the resume test covers the MLM task.)
TWO_COLUMNS = (
    "tasks=[{name: topic, kind: classify}, "
    "{name: sport, kind: classify, label_column: is_sport, weight: 0.5}]"
)


@pytest.fixture(scope="module")
def two_labels(tmp_path_factory) -> Path:
    """The topic rows with a second label column (is_sport)."""
    path = tmp_path_factory.mktemp("mtl") / "two.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "is_sport"])
        for text, label in make_rows(50):
            writer.writerow([text, label, "yes" if label == "sport" else "no"])
    return path


def _overrides(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        f"data.source={data}", f"model.init_from={model}", f"output_dir={out}",
        "model.max_length=48", "train.batch_size=8", "train.lr=3e-3", "train.warmup_ratio=0",
        "train.num_threads=1", *extra,
    ]  # fmt: skip


def _cfg(overrides: list[str]):
    return load_recipe_config("multitask", None, overrides)


def _task_losses(run: Path) -> dict[str, list[float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses: dict[str, list[float]] = {}
    for row in rows:
        if row["split"] == "train_tasks":
            for key, value in row.items():
                if key.startswith("loss/"):
                    losses.setdefault(key[5:], []).append(value)
    return losses


@pytest.fixture(scope="module")
def finished(two_labels, tiny_bert, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("runs")
    extra = ["name=learn", TWO_COLUMNS, "sampling=round_robin", "train.epochs=5",
             "train.log_every=25", "train.checkpoint_every=1000"]  # fmt: skip
    return run_multitask(_cfg(_overrides(two_labels, tiny_bert, out, *extra)), log=print)


def test_both_tasks_losses_fall(finished):
    losses = _task_losses(Path(finished["run_dir"]))
    assert set(losses) == {"topic", "sport"}
    for name, values in losses.items():
        assert values[-1] < values[0] - 0.2, f"{name} loss did not fall: {values}"
    # Clear margins above chance, not the values reached (topic 0.67: two of the three topics
    # apart; sport 1.0): topic chance is 1/3, sport's majority class ("no") is 2/3.
    assert finished["tasks"]["topic"]["test"]["accuracy"] > 0.45
    assert finished["tasks"]["sport"]["test"]["accuracy"] > 0.8


def test_run_folder_has_one_usable_model_per_head(finished):
    import torch
    from transformers import AutoModelForSequenceClassification

    run = Path(finished["run_dir"])
    assert {"config.yaml", "metrics.jsonl", "summary.json", "report.html"} <= {
        p.name for p in run.iterdir()
    }
    index = json.loads((run / "model" / "tasks.json").read_text())
    assert [t["name"] for t in index["tasks"]] == ["topic", "sport"]
    topic = AutoModelForSequenceClassification.from_pretrained(str(run / "model" / "topic"))
    sport = AutoModelForSequenceClassification.from_pretrained(str(run / "model" / "sport"))
    assert list(topic.config.id2label.values()) == finished["labels"]
    assert list(sport.config.id2label.values()) == ["no", "yes"]
    # Both folders hold the same (shared) encoder weights, and their own heads.
    for name, weight in topic.bert.named_parameters():
        assert torch.equal(weight, sport.bert.get_parameter(name)), name
    assert topic.classifier.weight.shape[0] == 3 and sport.classifier.weight.shape[0] == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"] == summary["tasks"]["topic"]["test"]


class _Crash(Exception):
    pass


class CrashAfterCheckpoint:
    def __init__(self, step: int) -> None:
        self.step = step

    def checkpoint(self, state) -> None:
        if state.step == self.step:
            raise _Crash


def test_resume_matches_uninterrupted_run(two_labels, tiny_bert, tmp_path):
    tasks = (
        "tasks=[{name: topic, kind: classify}, {name: sport, kind: classify, "
        "label_column: is_sport, weight: 0.5}, {name: mlm, kind: mlm, weight: 0.2}]"
    )
    extra = [tasks, "sampling=temperature", "model.max_length=32", "data.max_train_examples=40",
             "train.max_steps=12", "train.checkpoint_every=5", "train.eval_every=5",
             "train.log_every=1", "train.grad_accum=2"]  # fmt: skip
    whole = run_multitask(_cfg(_overrides(two_labels, tiny_bert, tmp_path, "name=whole", *extra)))
    with pytest.raises(_Crash):
        run_multitask(
            _cfg(_overrides(two_labels, tiny_bert, tmp_path, "name=cut", *extra)),
            extra_handlers=[CrashAfterCheckpoint(5)],
        )
    cut = tmp_path / "cut"
    resumed = run_multitask(None, resume=cut)  # type: ignore[arg-type]
    assert resumed["steps"] == whole["steps"] == 12
    for task in ("topic", "sport", "mlm"):
        expected = load_file(str(tmp_path / "whole" / "model" / task / "model.safetensors"))
        got = load_file(str(cut / "model" / task / "model.safetensors"))
        for name in expected:
            assert (expected[name] == got[name]).all(), f"{task}: {name} differs after resume"
    for task in ("topic", "sport", "mlm"):
        assert resumed["tasks"][task]["test"] == whole["tasks"][task]["test"]
    assert 0 <= whole["tasks"]["mlm"]["test"]["accuracy"] <= 1  # masked tokens of test texts
    log = [json.loads(x) for x in (cut / "metrics.jsonl").read_text().splitlines()]
    reference = [
        json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()
    ]
    pick = [(r["split"], r["step"], r.get("loss"), r.get("loss/mlm")) for r in log]
    assert pick == [(r["split"], r["step"], r.get("loss"), r.get("loss/mlm")) for r in reference]


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ("[{name: a, kind: regress}]", "task 'a': unknown kind 'regress'"),
        ("[{name: a, kind: classify}, {name: a, kind: mlm}]", "duplicate task name 'a'"),
        ("[{name: a, kind: classify, weight: 0}]", "task 'a': weight must be > 0"),
        ("[{name: a, kind: classify, weight: -1}]", "task 'a': weight must be > 0"),
        ("[{name: m, kind: mlm}]", "no classify task"),
    ],
)
def test_bad_task_lists_exit_2(tasks, message, tiny_csv, tiny_bert, tmp_path, capsys):
    code = main(["multitask", *_overrides(tiny_csv, tiny_bert, tmp_path), f"tasks={tasks}"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_label_column_names_the_task_and_column(two_labels, tiny_bert, tmp_path, capsys):
    tasks = (
        "tasks=[{name: topic, kind: classify}, {name: mood, kind: classify, label_column: mood}]"
    )
    code = main(["multitask", *_overrides(two_labels, tiny_bert, tmp_path), tasks])
    err = capsys.readouterr().err
    assert code == 2 and "task 'mood'" in err and "mood" in err.split("task 'mood'")[1]
    assert not (tmp_path / "multitask").exists() and not list(tmp_path.glob("multitask-*"))
