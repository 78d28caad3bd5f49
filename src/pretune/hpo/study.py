"""Hyper-parameter search: an Optuna study whose trials are ordinary fine-tuning runs.

    load space -> open (or resume) the study in its storage -> for each trial:
        sample params -> config -> run_finetune into <search>/trial-<n>/ (pruning on eval_end)
    -> best.yaml, trials.csv, search.html

The storage is an SQLite file `<search>/study.db` unless `storage=` gives another Optuna URL, so a
search that is stopped resumes under the same name and several worker processes share it.
`trials=N` is the study's total (finished + pruned), counted across resumes and workers.
Trials keep no resumable checkpoints (a finished one tidies its folder like any run, a pruned one
drops its `checkpoints/`) unless `train.keep_checkpoints_at_end=true`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pretune.config import RunConfig
from pretune.errors import ConfigError
from pretune.files import write_json_atomic
from pretune.hpo.space import Param, apply_params, grid_space, sample_params
from pretune.process_state import leaves_process_as_found

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "PruneOnEval",
    "SearchSpec",
    "default_startup_trials",
    "make_pruner",
    "make_sampler",
    "open_study",
    "run_search",
    "trial_config",
]

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "halving", "none")


@dataclass(frozen=True)
class SearchSpec:
    """Everything that defines one search besides the base config."""

    search_dir: Path
    space: list[Param]
    trials: int
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    seed: int = 0
    startup: int | None = None  # TPE: random trials before it models results (None: by budget)

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.search_dir / 'study.db').resolve()}"

    @property
    def study_name(self) -> str:
        return self.search_dir.name


def default_startup_trials(trials: int) -> int:
    """Random trials TPE runs before it models the results.

    Optuna's fixed 10 suits budgets of 50+ trials; with 12 it would leave TPE 2 trials of its
    own. A third of the budget, between 3 and 10, keeps some exploration at any budget.
    """
    return max(3, min(10, trials // 3))


def make_sampler(name: str, space: list[Param], seed: int, startup: int = 10) -> Any:
    """The Optuna sampler called `name`, seeded; `startup` random trials first for TPE."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401  (Optuna's CMA-ES sampler needs it)
        except ImportError:
            raise ConfigError(
                "sampler=cmaes needs the 'cmaes' package: pip install cmaes"
            ) from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"sampler={name} unknown; choose from {', '.join(SAMPLERS)}")


def make_pruner(name: str) -> Any:
    """The Optuna pruner called `name` (median, halving = successive halving, none)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"pruner={name} unknown; choose from {', '.join(PRUNERS)}")


def open_study(spec: SearchSpec) -> Any:
    """Create the study, or load it when one of this name exists (resume / other workers)."""
    import optuna

    spec.search_dir.mkdir(parents=True, exist_ok=True)
    startup = spec.startup if spec.startup is not None else default_startup_trials(spec.trials)
    url = spec.storage_url
    if url.startswith("sqlite"):
        # Several processes write one SQLite file: wait for the lock instead of failing.
        storage: Any = optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": 120}}
        )
    else:
        storage = url
    try:
        return optuna.create_study(
            study_name=spec.study_name,
            storage=storage,
            sampler=make_sampler(spec.sampler, spec.space, spec.seed, startup),
            pruner=make_pruner(spec.pruner),
            direction="maximize",  # every eval.metric is higher-is-better
            load_if_exists=True,
        )
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"storage={url}: Optuna cannot open it ({exc})") from None


class PruneOnEval:
    """Loop callback: report each validation metric to the trial; stop the run if pruned."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.last: tuple[int, float] | None = None

    def eval_end(self, state: Any) -> None:
        import optuna

        value = state.eval_metrics.get(self.metric)
        if value is None:
            return
        self.last = (state.step, float(value))
        self.trial.report(float(value), state.step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"{self.metric}={value:.4f} at step {state.step}")


def trial_config(base: RunConfig, spec: SearchSpec, values: dict[str, Any], number: int) -> Any:
    """The run config of trial `number`: base + sampled values, in `<search>/trial-<n>/`."""
    return apply_params(
        base,
        values,
        type(base),
        output_dir=str(spec.search_dir),
        name=f"trial-{number}",
        seed=base.seed,
    )


def _objective(
    base: RunConfig, spec: SearchSpec, log: Callable[[str], Any], run: Callable[..., dict]
) -> Callable[[Any], float]:
    import optuna

    def objective(trial: Any) -> float:
        values = sample_params(trial, spec.space)
        cfg = trial_config(base, spec, values, trial.number)
        run_dir = spec.search_dir / f"trial-{trial.number}"
        trial.set_user_attr("run_dir", str(run_dir))
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in values.items())  # fmt: skip
        log(f"trial {trial.number}: {shown}")
        pruning = PruneOnEval(trial, cfg.eval.metric)
        started = time.perf_counter()
        try:
            summary = run(cfg, log=log, live_progress=False, extra_handlers=[pruning])
        except optuna.TrialPruned:
            step, value = pruning.last or (None, None)
            if not cfg.train.keep_checkpoints_at_end:  # a pruned trial is never resumed
                shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
            write_json_atomic(
                run_dir / "pruned.json",
                {"status": "pruned", "step": step, "value": value, "params": values,
                 "seconds": round(time.perf_counter() - started, 2)},
            )  # fmt: skip
            log(f"trial {trial.number}: pruned at step {step} ({cfg.eval.metric}={value})")
            raise
        value = summary["best_validation"]["value"]
        if value is None:
            raise ConfigError(
                "a search needs a validation split to score trials; set data.val_fraction > 0 "
                "or data.validation_file"
            )
        trial.set_user_attr("test", summary.get("test", {}).get(cfg.eval.metric))
        log(f"trial {trial.number}: {cfg.eval.metric}={value:.4f}")
        return float(value)

    return objective


def finished_count(study: Any) -> int:
    """Trials that count towards `trials=N`: completed or pruned."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


@leaves_process_as_found()
def run_search(
    base: RunConfig,
    spec: SearchSpec,
    *,
    train_fn: Callable[..., dict],
    log: Callable[[str], Any] = print,
) -> Any:
    """Run trials in this process until the study holds `spec.trials` finished ones.

    Args:
        base: the config every trial starts from.
        spec: the search folder, space, budget, sampler, pruner and storage.
        log: where progress messages go.
        train_fn: the training function, `train_fn(cfg, log=, live_progress=, extra_handlers=)
            -> summary` (the CLI passes `run_finetune`; tests may pass a stand-in). A parameter,
            so the search (a library layer) never imports the recipes above it.

    Returns:
        The Optuna study.
    """
    import optuna

    if spec.trials < 1:
        raise ConfigError(f"trials={spec.trials}: give at least 1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(spec)
    done = finished_count(study)
    if done:
        log(f"search {spec.search_dir}: resuming with {done} finished trial(s)")
    left = spec.trials - done
    if left > 0:
        stop = optuna.study.MaxTrialsCallback(
            spec.trials,
            states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED),
        )
        study.optimize(_objective(base, spec, log, train_fn), n_trials=left, callbacks=[stop])
    return study
