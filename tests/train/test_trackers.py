"""`train.report_to`: what a tiny run sends to TensorBoard and MLflow, read back with each
library's own reader and compared with the run's metrics.jsonl and summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pretune.catalog import load_recipe_config
from pretune.catalog import recipe as catalog_entry
from pretune.errors import ConfigError
from pretune.train.trackers import flat_config, metric_values
from recipe_setups import SETUPS, TinyFiles

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")

STEPS = ("train.max_steps=4", "train.eval_every=2", "train.log_every=1", "train.num_threads=1",
         "train.warmup_ratio=0")  # fmt: skip


def _run(setup: str, files: TinyFiles, out: Path, *extra: str) -> tuple[Any, Path]:
    recipe, overrides = SETUPS[setup](files)
    overrides = [*overrides, *STEPS, f"output_dir={out}", "name=run", *extra]
    cfg = load_recipe_config(recipe, None, overrides)
    summary = catalog_entry(recipe).run_function()(cfg, log=lambda *_: None, live_progress=False)
    return cfg, Path(summary["run_dir"])


def _expected(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Every metric of metrics.jsonl as `{"<split>/<name>": [(step, value), ...]}`."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        values, step = metric_values(json.loads(line))
        for tag, value in values.items():
            expected.setdefault(tag, []).append((step, value))
    return expected


def _tensorboard(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def _assert_same(found: dict[str, list], expected: dict[str, list]) -> None:
    """Each expected series is found, step for step (TensorBoard keeps float32 values)."""
    for tag, points in expected.items():
        got = sorted(found.get(tag, []))
        assert [s for s, _ in got] == [s for s, _ in sorted(points)], tag
        assert [v for _, v in got] == pytest.approx([v for _, v in sorted(points)], rel=1e-6), tag


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_csv, tiny_bert, tiny_lm) -> TinyFiles:
    return TinyFiles(tmp_path_factory.mktemp("setups"), tiny_csv, tiny_bert, tiny_lm)


@pytest.fixture(scope="module")
def finetune_run(files: TinyFiles, tmp_path_factory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("tracked")
    return _run("finetune", files, out, "train.report_to=[tensorboard,mlflow]")


def test_tensorboard_holds_every_logged_metric_and_the_test_metrics(finetune_run) -> None:
    _, run = finetune_run
    scalars = _tensorboard(run)
    _assert_same(scalars, _expected(run))
    summary = json.loads((run / "summary.json").read_text())
    _assert_same(scalars, {"test/accuracy": [(summary["steps"], summary["test"]["accuracy"])]})


def test_mlflow_holds_config_metrics_test_metrics_and_report(finetune_run) -> None:
    from mlflow.tracking import MlflowClient

    cfg, run = finetune_run
    client = MlflowClient(tracking_uri=f"sqlite:///{(run / 'mlflow.db').resolve()}")
    (mlflow_run,) = client.search_runs(
        [client.get_experiment_by_name("pretune-finetune").experiment_id]
    )
    run_id = mlflow_run.info.run_id
    assert mlflow_run.info.status == "FINISHED"
    params = mlflow_run.data.params
    assert params == {k: str(v) for k, v in flat_config(cfg).items()}
    assert (
        params["train.lr"] == str(cfg.train.lr)
        and params["train.report_to"] == '["tensorboard", "mlflow"]'
    )
    expected = _expected(run)
    history = {
        t: [(m.step, m.value) for m in client.get_metric_history(run_id, t)] for t in expected
    }
    _assert_same(history, expected)
    summary = json.loads((run / "summary.json").read_text())
    assert mlflow_run.data.metrics["test/macro_f1"] == pytest.approx(summary["test"]["macro_f1"])
    stored = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "summary.json"} <= stored


def test_another_recipe_logs_through_the_same_path(files: TinyFiles, tmp_path: Path) -> None:
    _, run = _run("pretrain-mlm", files, tmp_path, "train.report_to=[tensorboard]")
    scalars = _tensorboard(run)
    expected = _expected(run)
    _assert_same(scalars, expected)
    assert {"train/loss", "validation/loss"} <= set(expected)


def test_an_unknown_or_missing_tracker_is_refused_when_the_config_loads(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="unknown tracker nosuch"):
        load_recipe_config("finetune", None, ["train.report_to=[nosuch]"])
    monkeypatch.setattr("accelerate.utils.imports.is_mlflow_available", lambda: False)
    with pytest.raises(ConfigError, match=r"mlflow is not installed.*pretune\[trackers\]"):
        load_recipe_config("finetune", None, ["train.report_to=[mlflow]"])


def test_a_resumed_run_holds_each_step_once(files: TinyFiles, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from helpers import Interrupted, StopAfterCheckpoint

    recipe, overrides = SETUPS["finetune"](files)
    overrides += [*STEPS, "train.checkpoint_every=2", f"output_dir={tmp_path}", "name=run",
                  "train.report_to=[tensorboard,mlflow]"]  # fmt: skip
    run_function = catalog_entry(recipe).run_function()
    with pytest.raises(Interrupted):
        run_function(load_recipe_config(recipe, None, overrides), log=lambda *_: None,
                     live_progress=False, extra_handlers=[StopAfterCheckpoint(2)])  # fmt: skip
    run = tmp_path / "run"
    run_function(resume=run, log=lambda *_: None, live_progress=False)
    scalars, expected = _tensorboard(run), _expected(run)
    _assert_same(scalars, expected)
    assert [s for s, _ in scalars["train/loss"]] == [1, 2, 3, 4]
    client = MlflowClient(tracking_uri=f"sqlite:///{(run / 'mlflow.db').resolve()}")
    (only,) = client.search_runs([client.get_experiment_by_name("pretune-finetune").experiment_id])
    assert only.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(only.info.run_id, "train/loss")] == [
        1,
        2,
        3,
        4,
    ]


def test_a_failing_tracker_is_switched_off_not_the_training() -> None:
    from pretune.train.trackers import TrackerSync

    class DownServer:
        calls = 0

        def sync(self) -> None:
            self.calls += 1
            raise ConnectionError("mlflow server unreachable")

    server, messages = DownServer(), []
    callback = TrackerSync(server, messages.append)  # type: ignore[arg-type]
    callback.after_step(None)  # does not raise: training goes on
    callback.eval_end(None)
    callback.fit_end(None)
    assert server.calls == 1  # switched off after the first failure
    assert len(messages) == 1 and "trackers off" in messages[0] and "unreachable" in messages[0]
