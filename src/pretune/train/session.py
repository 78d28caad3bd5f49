"""The training session: everything between "model and task" and "summarise", written once.

A recipe builds its data, its model and a function that makes its task, then calls
`session.train(...)`; the session does the rest, the same way for every recipe:

    techniques prepare the model -> task (wrapped by techniques) -> optimizer, schedule
    -> [--resume: the newest intact checkpoint] -> accelerator (one process, DDP or FSDP)
    -> handlers (techniques, best-model keeper + early stopping when there is validation,
       progress, metrics log, checkpoints) -> fit (the one loop)
    -> gather the weights -> restore the best validation weights -> techniques export

The run folder is made on first use (so bad data never leaves an empty folder behind), with
the resolved config saved in it. The session holds the folder's `run.lock` (one writer per run
folder, train/run_lock.py) until `close()`. A failed write (full disk, no permission) during
training or saving ends in one WriteError naming the path, the last intact checkpoint and the
`--resume` command that continues from it. `Session` objects are made by `recipes/_runner.py`,
which also writes the summary and the report after the recipe returns, then closes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pretune.errors import CheckpointError, ConfigError
from pretune.files import write_error, writing
from pretune.train.checkpoint import latest_intact_checkpoint, load_model_state
from pretune.train.distributed import make_accelerator, prepare_model, unwrap_for_export
from pretune.train.loop import TrainData, fit
from pretune.train.run_folder import (
    create_run_dir,
    disk_needed,
    is_main_process,
    warn_if_short_of_space,
)
from pretune.train.run_lock import acquire_run_lock, release_run_lock
from pretune.train.setup import (
    apply_techniques,
    bind_task_model,
    build_training,
    export_model,
    resume_training,
    save_model,
    standard_handlers,
)
from pretune.train.state import State
from pretune.train.trackers import RunTrackers, TrackerSync

__all__ = ["RunOptions", "Session", "Trained"]

Evaluate = Callable[[Any, torch.device], dict[str, Any]]


@dataclass
class RunOptions:
    """How a run is driven, as opposed to what it trains (that is the config)."""

    resume: Path | None = None  # an unfinished run folder to continue
    log: Callable[[str], None] = print  # where progress messages go
    live_progress: bool | None = None  # force the live bar on/off (default: on a terminal)
    extra_handlers: Sequence[Any] = ()  # more loop handlers, after the standard ones
    folder_prefix: str | None = None  # new run folders are <prefix>-<date>-<time>


@dataclass
class Trained:
    """What `Session.train` hands back: on the main process, the exported model (best
    validation weights restored, techniques applied) and the task bound to it."""

    model: Any
    task: Any
    state: State
    device: torch.device
    train_seconds: float
    main_process: bool = True
    techniques: list[Any] = field(default_factory=list)
    best_in_model: bool = False  # `model` holds exactly the saved best validation weights


def _check_batches_feed(data: TrainData, processes: int) -> None:
    """Every process needs rows of every batch: refuse, before training, a batch size that
    leaves a batch (the last of an epoch) smaller than the number of processes."""
    smallest = min((len(b) for b in data.epoch_batches(0)), default=0)
    if 0 < smallest < processes:
        raise ConfigError(
            f"an epoch ends with a batch of {smallest} row(s), fewer than the {processes} "
            "processes: change train.batch_size so that the last batch has at least that many "
            "rows, or use fewer processes"
        )


class Session:
    """One run of one recipe: its config, its folder, its log, and training it."""

    def __init__(self, cfg: Any, recipe: str, options: RunOptions) -> None:
        self.cfg = cfg
        self.recipe = recipe
        self.options = options
        self.started = time.perf_counter()
        self.trained: Trained | None = None
        self.writes_own_report = False  # the recipe wrote report.html itself (transfer pages)
        self.best_saved_in_model = False  # model/ holds exactly checkpoints/best/ (runner tidies)
        self._run_dir = options.resume
        self._trackers: RunTrackers | None = None
        self._locked = False
        if options.resume is not None and is_main_process():
            acquire_run_lock(options.resume, self.log)
            self._locked = True

    @property
    def resuming(self) -> bool:
        return self.options.resume is not None

    @property
    def run_dir(self) -> Path:
        """The run folder, made (with config.yaml) the first time it is asked for."""
        if self._run_dir is None:
            prefix = self.options.folder_prefix or self.recipe
            self._run_dir = create_run_dir(self.cfg, prefix, lock=True)
            self._locked = is_main_process()
        return self._run_dir

    def close(self) -> None:
        """Release the run folder's lock (the run finished, failed or was interrupted)."""
        if self._locked and self._run_dir is not None:
            release_run_lock(self._run_dir)
        self._locked = False

    def log(self, message: str) -> None:
        self.options.log(message)

    def trackers(self) -> RunTrackers | None:
        """The run's experiment trackers (`train.report_to`), started on first use; on the main
        process only (train/trackers.py)."""
        names = getattr(getattr(self.cfg, "train", None), "report_to", None)
        if self._trackers is None and names and is_main_process():
            self._trackers = RunTrackers(self.cfg, self.run_dir, self.recipe, self.resuming)
        return self._trackers

    def finish_trackers(self, summary: dict[str, Any] | None, report: Path | None) -> None:
        """Send the test metrics and the report, and end the trackers' run (`summary=None`:
        the run failed; trackers never started stay so)."""
        trackers = self._trackers if summary is None else self.trackers()
        self._trackers = None
        if trackers is None:
            return
        try:
            trackers.finish(summary, report)
        except Exception as exc:  # the run is saved: a tracker must not turn it into a failure
            self.log(f"warning: trackers not finished ({type(exc).__name__}: {exc})")

    def resume_hint(self) -> str:
        """What to do after a failed write: the --resume command and where it continues."""
        try:
            last = latest_intact_checkpoint(self.run_dir, warn=lambda _: None)
        except CheckpointError:
            last = None
        where = (
            f"from checkpoint {last.name} (the last intact one)"
            if last is not None
            else "from the beginning (no checkpoint was written yet)"
        )
        return f"then `pretune {self.recipe} --resume {self.run_dir}` continues {where}"

    def save_model(self, model: Any, tokenizer: Any = None) -> None:
        """Write `model/` (Hugging Face format, with the tokenizer of a text model), whole or
        not at all."""
        with writing(self.run_dir / "model", then=self.resume_hint):
            save_model(model, self.run_dir, tokenizer)
        trained = self.trained
        self.best_saved_in_model = (
            trained is not None and model is trained.model and trained.best_in_model
        )

    def train(
        self,
        model: torch.nn.Module,
        make_task: Callable[[torch.nn.Module], Any],
        data: TrainData,
        *,
        evaluate: Evaluate | None = None,
        handlers: Sequence[Any] = (),
        techniques: Sequence[Any] = (),
        evaluate_first: bool = False,
    ) -> Trained:
        """Train `make_task(model)` on `data` through the one loop; see the module docstring.

        Args:
            model: the model before techniques (LoRA, freezing) prepare it.
            make_task: builds the task (batch -> {"loss", ...}) around the prepared model.
            data: the training split as index batches (`train.loop.TrainData`).
            evaluate: `evaluate(task, device) -> metrics` on the validation split; with it,
                the best weights by `eval.metric` are kept and early stopping can stop.
            handlers: the recipe's own loop handlers (after the standard ones).
            techniques: techniques the recipe builds itself (e.g. distillation with a
                teacher it loaded), applied after those of the config.
            evaluate_first: evaluate the starting weights too (logged at step 0).
        """
        cfg = self.cfg
        all_techniques, model, task = apply_techniques(cfg, model, make_task, techniques)
        training = build_training(cfg, model, len(data.epoch_batches(0)), all_techniques)
        if is_main_process():
            needed = disk_needed(model, cfg.train.keep_checkpoints)
            warn_if_short_of_space(self.run_dir, needed, self.log)
        previous = 0.0
        if self.resuming:
            restored = resume_training(training, self.run_dir, self.recipe, self.log)
            previous = restored.get("train_seconds", 0.0)
        return self._fit(task, data, training, evaluate, handlers, previous, evaluate_first)

    def _fit(
        self,
        task: Any,
        data: TrainData,
        training: Any,
        evaluate: Evaluate | None,
        handlers: Sequence[Any],
        previous_seconds: float,
        evaluate_first: bool,
    ) -> Trained:
        cfg, state = self.cfg, training.state
        accelerator = make_accelerator(cfg)
        state.model, state.optimizer = prepare_model(
            accelerator, state.model, state.optimizer, log=self.log
        )
        bind_task_model(task, state.model)  # DDP-wrapped (or FSDP-sharded) with several processes
        if hasattr(data, "world_size"):  # each process takes its share of every batch
            _check_batches_feed(data, accelerator.num_processes)
            data.rank, data.world_size = accelerator.process_index, accelerator.num_processes
        started = time.perf_counter()

        def elapsed() -> dict[str, float]:
            return {"train_seconds": previous_seconds + time.perf_counter() - started}

        run_eval = None if evaluate is None else (lambda: evaluate(task, accelerator.device))
        standard = standard_handlers(
            cfg, self.run_dir, training, has_validation=evaluate is not None,
            metric=cfg.eval.metric, elapsed=elapsed, live=self.options.live_progress,
            main_process=accelerator.is_main_process,
        )  # fmt: skip
        all_handlers = [*standard, *handlers, *self.options.extra_handlers]
        trackers = self.trackers() if accelerator.is_main_process else None
        if trackers is not None:  # last: it sends what the handlers before it logged
            all_handlers.append(TrackerSync(trackers, self.log))
        try:
            fit(state, task, data, training.plan, accelerator, all_handlers, run_eval,
                evaluate_first=evaluate_first)  # fmt: skip
        except OSError as exc:  # a checkpoint, the best weights or the log could not be written
            raise write_error(exc, then=self.resume_hint) from exc
        seconds = elapsed()["train_seconds"]
        model = unwrap_for_export(accelerator, state.model)  # FSDP: a collective
        if not accelerator.is_main_process:  # the main process tests and saves
            self.trained = Trained(model, task, state, accelerator.device, seconds, False)
            return self.trained
        bind_task_model(task, model)  # no collective calls from here on
        best = self.run_dir / "checkpoints" / "best" / "model.safetensors"
        restored_best = evaluate is not None and best.is_file()
        best_state = load_model_state(best) if restored_best else None
        if best_state is not None:
            model.load_state_dict(best_state)
        model = export_model(model, training.techniques, restored_best)
        bind_task_model(task, model)
        self.trained = Trained(
            model, task, state, accelerator.device, seconds, True, training.techniques,
            best_in_model=best_state is not None and _same_weights(model, best_state),
        )  # fmt: skip
        return self.trained


def _same_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> bool:
    """Whether `model` holds exactly `weights` (no technique changed them on export)."""
    own = model.state_dict()
    return own.keys() == weights.keys() and all(torch.equal(own[k].cpu(), weights[k]) for k in own)
