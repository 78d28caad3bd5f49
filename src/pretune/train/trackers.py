"""Experiment trackers (`train.report_to`): the run's config, metrics log, test metrics and
report, sent to accelerate's trackers (TensorBoard, MLflow, W&B, ...).

metrics.jsonl stays the record of a run; a tracker mirrors it. `RunTrackers.sync` sends the
records appended to metrics.jsonl since the last sync (each metric as `<split>/<name>` at its
`step`), so whatever writes the log (the standard metrics log, the RL and multitask logs, a
recipe that trains outside the session) reaches the trackers the same way. `TrackerSync` syncs
at the loop's logging events; the runner calls `finish` after summary.json and report.html.

The trackers are accelerate's own classes (`accelerate.tracking.LOGGER_TYPE_TO_CLASS`), made
once per run rather than by each `Accelerator`: a session may build several accelerators (one
per `train` call), while a run is one tracker run. Offline by default:

- tensorboard: event files in `<run>/tensorboard/`;
- mlflow: `MLFLOW_TRACKING_URI` when set, else a SQLite store `<run>/mlflow.db` with the
  artifacts in `<run>/mlflow-artifacts/` (MLflow 3 refuses its plain-file store by default).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["RunTrackers", "TrackerSync", "flat_config", "metric_values"]


def flat_config(cfg: Any) -> dict[str, str | int | float | bool]:
    """The resolved config as one level of dotted keys (`train.lr`); lists, dicts and nulls as
    JSON text, which every tracker accepts as a hyper-parameter."""
    flat: dict[str, str | int | float | bool] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, bool | int | float | str):
            flat[prefix] = value
        else:
            flat[prefix] = json.dumps(value)

    walk("", cfg.model_dump(mode="json"))
    return flat


def metric_values(record: dict[str, Any]) -> tuple[dict[str, float], int | None]:
    """A metrics.jsonl record as tracker values `{"<split>/<name>": number}` and its step."""
    split = record.get("split", "train")
    values = {
        f"{split}/{key}": float(value)
        for key, value in record.items()
        if key not in ("split", "step")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }
    return values, record.get("step")


class RunTrackers:
    """The trackers of one run, started with the config as hyper-parameters."""

    def __init__(self, cfg: Any, run_dir: Path, recipe: str, resuming: bool = False) -> None:
        self.run_dir = run_dir
        self._offset = 0  # bytes of metrics.jsonl already sent
        if resuming:  # the log was cut back to the checkpoint: send it all again, once
            shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)
        self.trackers = [_make(name, run_dir, recipe) for name in cfg.train.report_to]
        for tracker in self.trackers:
            if resuming and tracker.name == "mlflow":
                _retire_interrupted_run(tracker)
        config = flat_config(cfg)
        for tracker in self.trackers:
            tracker.start()
            tracker.store_init_configuration(config)

    def log(self, values: dict[str, float], step: int | None) -> None:
        if values:
            for tracker in self.trackers:
                tracker.log(values, step=step)

    def sync(self) -> None:
        """Send the complete records appended to metrics.jsonl since the last sync."""
        path = self.run_dir / "metrics.jsonl"
        # Called after every step, while the log grows every log_every steps: a stat is enough.
        if not path.is_file() or path.stat().st_size <= self._offset:
            return
        with path.open("rb") as handle:
            handle.seek(self._offset)
            text = handle.read()
        complete = text[: text.rfind(b"\n") + 1]  # a line being written waits for the next sync
        self._offset += len(complete)
        for line in complete.decode("utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.log(*metric_values(record))

    def finish(self, summary: dict[str, Any] | None, report: Path | None) -> None:
        """Send what is left of the log, the test metrics and the report; end the run.
        `summary=None`: the run failed (MLflow marks it so)."""
        try:
            self.sync()
            if summary is not None:
                test = summary.get("test")
                if isinstance(test, dict):
                    values, _ = metric_values({"split": "test", **test})
                    self.log(values, summary.get("steps"))
                for tracker in self.trackers:
                    _store_files(tracker, [report, self.run_dir / "summary.json"])
        finally:
            for tracker in self.trackers:
                if tracker.name == "mlflow" and summary is None:
                    import mlflow

                    mlflow.end_run(status="FAILED")
                else:
                    tracker.finish()


def _make(name: str, run_dir: Path, recipe: str) -> Any:
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, MLflowTracker, TensorBoardTracker

    if name == "tensorboard":  # "" as run name: the events go straight into <run>/tensorboard
        return TensorBoardTracker("", str(run_dir / "tensorboard"))
    if name == "mlflow":
        if not os.environ.get("MLFLOW_TRACKING_URI"):  # put back by the runner afterwards
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
            artifacts = (run_dir / "mlflow-artifacts").resolve().as_uri()
        else:
            artifacts = None  # the server's or store's own artifact location
        return MLflowTracker(f"pretune-{recipe}", artifacts, run_name=run_dir.name)
    tracker_class = LOGGER_TYPE_TO_CLASS[name]
    if tracker_class.requires_logging_directory:
        return tracker_class(f"pretune-{recipe}", str(run_dir / name))
    return tracker_class(f"pretune-{recipe}")


def _retire_interrupted_run(tracker: Any) -> None:
    """A resumed run replaces the MLflow run of its interrupted part (deleted the MLflow way:
    hidden from searches, `MlflowClient().restore_run` brings it back)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name(tracker.experiment_name)
    if experiment is None:
        return
    name = tracker.run_name.replace("'", "\\'")
    earlier = client.search_runs([experiment.experiment_id], f"attributes.run_name = '{name}'")
    for run in earlier:
        client.delete_run(run.info.run_id)


def _store_files(tracker: Any, paths: list[Path | None]) -> None:
    """Files as artifacts, for the trackers that keep files (MLflow)."""
    if tracker.name != "mlflow":
        return
    import mlflow

    for path in paths:
        if path is not None and path.is_file():
            mlflow.log_artifact(str(path))


class TrackerSync:
    """A loop callback: sends new metrics.jsonl records at each logging event. It goes after
    every handler that writes the log. A tracker that fails (a server down) is switched off
    with one warning: it must not stop the training, nor pass for a failed disk write."""

    def __init__(self, trackers: RunTrackers, log: Callable[[str], None] = print) -> None:
        self.trackers: RunTrackers | None = trackers
        self.log = log

    def _sync(self) -> None:
        if self.trackers is None:
            return
        try:
            self.trackers.sync()
        except Exception as exc:
            self.trackers = None
            self.log(f"warning: trackers off for the rest of training ({type(exc).__name__}: "
                     f"{exc}); metrics.jsonl has every value")  # fmt: skip

    def after_step(self, state: Any) -> None:
        self._sync()

    def eval_end(self, state: Any) -> None:
        self._sync()

    def fit_end(self, state: Any) -> None:
        self._sync()
