"""What every catalog recipe does around its own body, written once.

    @recipe("finetune")
    def run_finetune(cfg, session) -> dict:    # data -> model and task -> train -> summarise
        ...

`run_finetune(cfg, resume=..., log=..., live_progress=..., extra_handlers=...)` then: loads the
run's saved config with `--resume`, leaves the process as it found it, seeds and sets
deterministic kernels, makes the `Session`, calls the body, adds what every summary holds
(steps, best validation metric, timings, environment) to what the body returned, and writes
`summary.json` and the report (a failed report never loses the run), then tidies the finished
run folder (the resumable checkpoints go unless `train.keep_checkpoints_at_end`) and releases
its lock, also when the run fails.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pretune.catalog import load_recipe_config
from pretune.catalog import recipe as catalog_entry
from pretune.errors import ConfigError
from pretune.files import write_json_atomic
from pretune.models.load import quiet_transformers
from pretune.process_state import leaves_process_as_found
from pretune.report import try_write_model_card, try_write_report
from pretune.tasks.result_checks import run_warnings
from pretune.train.run_folder import environment, finish_run_folder, open_run_for_resume
from pretune.train.session import RunOptions, Session, Trained
from pretune.train.setup import set_determinism

__all__ = ["recipe"]

Body = Callable[[Any, Session], dict[str, Any]]


def recipe(name: str) -> Callable[[Body], Callable[..., dict[str, Any]]]:
    """Turn a recipe body `(cfg, session) -> summary` into its runner (see the module doc)."""

    def wrap(body: Body) -> Callable[..., dict[str, Any]]:
        @functools.wraps(body)
        @leaves_process_as_found()
        @quiet_transformers()  # for the whole run: its loads and saves, put back after
        def run(
            cfg: Any = None,
            *,
            resume: Path | None = None,
            log: Callable[[str], None] = print,
            live_progress: bool | None = None,
            extra_handlers: Sequence[Any] = (),
            folder_prefix: str | None = None,
        ) -> dict[str, Any]:
            cfg = _config(name, cfg, resume)
            set_determinism(cfg)
            options = RunOptions(resume, log, live_progress, extra_handlers, folder_prefix)
            session = Session(cfg, name, options)
            try:
                return _finish(session, body(cfg, session))
            finally:  # the run folder's lock, and a failed run's trackers, are closed
                session.finish_trackers(None, None)
                session.close()

        return run

    return wrap


def _config(name: str, cfg: Any, resume: Path | None) -> Any:
    entry = catalog_entry(name)
    if resume is not None:
        if not entry.trains:
            raise ConfigError(f"--resume: `pretune {name}` keeps no checkpoints to resume from")
        return open_run_for_resume(Path(resume), schema=entry.schema)
    if cfg is None:
        return load_recipe_config(name)
    if getattr(cfg, "recipe", name) != name and entry.schema is not type(cfg):
        raise ConfigError(f"a `{cfg.recipe}` config was given to `pretune {name}`")
    return cfg


def _common_summary(session: Session, trained: Trained | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"recipe": session.recipe}
    timing: dict[str, Any] = {}
    if trained is not None:
        state = trained.state
        seconds = trained.train_seconds
        summary["steps"] = state.step
        summary["epochs"] = round(
            state.epoch + state.batch_in_epoch / max(1, state.steps_per_epoch), 3
        )
        if state.best_step is not None:
            summary["best_validation"] = {
                "metric": session.cfg.eval.metric,
                "value": state.best_metric,
                "step": state.best_step,
            }
        summary["validation"] = dict(state.eval_metrics)
        timing = {
            "train_seconds": round(seconds, 2),
            "train_examples_per_s": round(state.examples_seen / max(seconds, 1e-9), 2),
            "real_tokens_per_s": round(state.tokens_seen / max(seconds, 1e-9), 1),
        }
    timing["total_seconds"] = round(time.perf_counter() - session.started, 2)
    summary["timing"] = timing
    summary["environment"] = environment()
    return summary


def _finish(session: Session, body_summary: dict[str, Any]) -> dict[str, Any]:
    trained = session.trained
    if trained is not None and not trained.main_process:
        # Only the main process tests, saves and summarises (train/session.py).
        return {"run_dir": str(session.run_dir), "process_index": int(os.environ["RANK"])}
    summary = _common_summary(session, trained)
    for key, value in body_summary.items():  # the recipe's own keys win, dicts are merged
        if isinstance(value, dict) and isinstance(summary.get(key), dict):
            summary[key] = {**summary[key], **value}
        else:
            summary[key] = value
    warnings = run_warnings(summary)  # too few rows, a headline metric at its floor
    if warnings:
        summary["warnings"] = warnings
        for warning in warnings:
            session.log(f"warning: {warning}")
    run_dir = session.run_dir
    write_json_atomic(run_dir / "summary.json", summary, then=session.resume_hint)
    try_write_model_card(run_dir, session.log)  # model/README.md, from summary.json
    if not session.writes_own_report:  # never raises: a failed report must not lose the run
        try_write_report(run_dir, session.log)
    session.finish_trackers(summary, run_dir / "report.html")
    # Finished (summary.json written): the resumable state is no longer needed.
    train = getattr(session.cfg, "train", None)
    finish_run_folder(
        run_dir,
        keep_checkpoints=bool(getattr(train, "keep_checkpoints_at_end", False)),
        best_in_model=session.best_saved_in_model,
    )
    summary["run_dir"] = str(run_dir)
    return summary
