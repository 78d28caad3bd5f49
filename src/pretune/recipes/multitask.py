"""Recipe: multi-task learning, one shared encoder and one head per task.

    per task: load, clean, split, encode  ->  heads sharing one encoder  ->  MultiTask
    -> MixedBatches (proportional / temperature / round-robin)  ->  fit (the one loop)
    -> per-task test metrics  ->  model/<task>/ (one Hugging Face folder per head)

Tasks are classify heads (several label columns of one dataset, or several datasets) and an
optional auxiliary masked-LM loss on the text. Data, models and the training session come from
`recipes/finetune.py` and `train/session.py`; what is new here is the mixing and the per-task
bookkeeping. Callable from Python (`run_multitask(config)`) and from the CLI
(`pretune multitask config.yaml`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pretune.config import DataConfig, save_config
from pretune.data.clean import clean_dataset
from pretune.data.encode import EncodedSplit, encode_split
from pretune.data.masking import MLMMasking
from pretune.data.multitask import MixedBatches, sampling_probabilities
from pretune.data.sources import load_source
from pretune.data.split import split_dataset
from pretune.data.text_classification import PreparedData, encode_splits, prepare_data
from pretune.errors import ConfigError, DataError
from pretune.evaluate.evaluator import evaluate_split
from pretune.files import write_json_atomic
from pretune.models.init import init_model
from pretune.models.load import (
    _quiet_transformers,
    load_classifier,
    load_tokenizer,
    resolve_model_path,
)
from pretune.models.presets import load_lm
from pretune.process_state import leaves_process_as_found
from pretune.recipes.finetune import METRICS
from pretune.recipes.multitask_config import MultitaskConfig, TaskSpec
from pretune.recipes.pretrain import evaluate_lm
from pretune.report import try_write_report
from pretune.tasks.classify import ClassifyTask
from pretune.tasks.mlm import MLMTask
from pretune.tasks.multitask import MultiTask, attached, share_encoder
from pretune.train.checkpoint import load_model_state
from pretune.train.loop import fit
from pretune.train.run_folder import create_run_dir, environment, open_run_for_resume
from pretune.train.session import (
    build_training,
    make_accelerator,
    resume_training,
    set_determinism,
    standard_handlers,
)

__all__ = ["MultitaskConfig", "TaskData", "TaskLossLog", "prepare_tasks", "run_multitask"]


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class TaskData:
    """One task's encoded splits (train / validation / test) and, for classify, its labels."""

    spec: TaskSpec
    encoded: dict[str, EncodedSplit]
    label_names: list[str] = field(default_factory=list)
    prepared: PreparedData | None = None  # classify: the cleaned splits (texts for analysis)


def _task_data_config(cfg: MultitaskConfig, spec: TaskSpec, label_column: str) -> DataConfig:
    d = cfg.data
    limit = spec.max_train_examples
    if limit is None and spec.kind == "classify":
        limit = d.max_train_examples
    return d.model_copy(
        update={
            "source": spec.source or d.source,
            "text_column": spec.text_column or d.text_column,
            "label_column": label_column,
            "max_train_examples": limit,
        }
    )


def _in_task(spec: TaskSpec, dcfg: DataConfig, call: Any) -> Any:
    # Name the task (and its source and column) in any data error: with several tasks, "no
    # column 'label'" alone does not say which task's data is wrong.
    try:
        return call()
    except DataError as exc:
        column = f", label_column={dcfg.label_column}" if spec.kind == "classify" else ""
        raise DataError(
            f"task '{spec.name}' (source={dcfg.source}, text_column={dcfg.text_column}{column}): "
            f"{exc}"
        ) from None


def _classify_data(cfg: MultitaskConfig, spec: TaskSpec, tokenizer: Any) -> TaskData:
    dcfg = _task_data_config(cfg, spec, spec.label_column or cfg.data.label_column)
    data = _in_task(spec, dcfg, lambda: prepare_data(dcfg, cfg.seed))
    encoded = encode_splits(tokenizer, data, cfg.model.max_length)
    return TaskData(spec, encoded, data.label_names, data)


def _mlm_texts(cfg: MultitaskConfig, spec: TaskSpec, twin: TaskSpec | None) -> dict[str, list]:
    """Train / validation / test texts of an MLM task. When a classify task reads the same
    source, the same split is used (its labels only stratify it), so no validation or test text
    of that task is ever trained on, even without labels."""
    if twin is not None:
        dcfg = _task_data_config(cfg, spec, twin.label_column or cfg.data.label_column)
        data = _in_task(spec, dcfg, lambda: prepare_data(dcfg, cfg.seed))
        return {k: list(data.splits[k]["text"][:]) for k in ("train", "validation", "test")}
    dcfg = _task_data_config(cfg, spec, cfg.data.label_column)

    def load() -> dict[str, list]:
        dataset = load_source(
            dcfg.source,
            text_column=dcfg.text_column,
            label_column=None,
            encoding_errors=dcfg.encoding_errors,
        )
        if "text" not in dataset.column_names:
            raise DataError("the source has no text; an mlm task needs text")
        c = dcfg.clean
        dataset, _ = clean_dataset(
            dataset, drop_empty=c.drop_empty, dedupe=c.dedupe, min_chars=c.min_chars,
            max_chars=c.max_chars, has_label=False, source_name=dcfg.source,
        )  # fmt: skip
        splits = split_dataset(
            dataset, val_fraction=dcfg.val_fraction, test_fraction=dcfg.test_fraction,
            seed=cfg.seed, stratify=False,
        )  # fmt: skip
        texts = {k: list(splits[k]["text"][:]) for k in ("train", "validation", "test")}
        if dcfg.max_train_examples:
            texts["train"] = texts["train"][: dcfg.max_train_examples]
        return texts

    return _in_task(spec, dcfg, load)


def prepare_tasks(cfg: MultitaskConfig, tokenizer: Any) -> list[TaskData]:
    """Every task's encoded splits, in config order."""
    out = []
    for spec in cfg.tasks:
        if spec.kind == "classify":
            out.append(_classify_data(cfg, spec, tokenizer))
            continue
        source = spec.source or cfg.data.source
        text = spec.text_column or cfg.data.text_column
        twin = next(
            (
                t for t in cfg.tasks
                if t.kind == "classify"
                and (t.source or cfg.data.source) == source
                and (t.text_column or cfg.data.text_column) == text
            ),
            None,
        )  # fmt: skip
        texts = _mlm_texts(cfg, spec, twin)
        if not texts["train"]:
            raise DataError(f"task '{spec.name}' (source={source}): no training text")
        encoded = {
            key: encode_split(tokenizer, t, max_length=cfg.model.max_length)
            for key, t in texts.items()
        }
        out.append(TaskData(spec, encoded))
    return out


def _masking(spec: TaskSpec, tokenizer: Any) -> MLMMasking:
    if tokenizer.mask_token_id is None:
        raise ConfigError(
            f"task '{spec.name}' (kind mlm) needs a tokenizer with a mask token; this model's "
            "tokenizer has none"
        )
    return MLMMasking(
        tokenizer.mask_token_id,
        len(tokenizer),
        tuple(tokenizer.all_special_ids),
        spec.mlm_probability,
    )


# ---------------------------------------------------------------------------------------------
# Model and task


def build_multitask(
    cfg: MultitaskConfig, model_path: Path, tasks: Sequence[TaskData], tokenizer: Any, log: Any
) -> MultiTask:
    """Heads sharing one encoder (owned by the first classify head) and the MultiTask."""
    from pretune.data.balance import class_weights

    m = cfg.model
    heads: dict[str, Any] = {}
    # Classify heads first: the owner's encoder is shared, and a BERT classifier needs the
    # pooler that an MLM model's encoder lacks.
    for data in sorted(tasks, key=lambda t: t.spec.kind != "classify"):
        spec = data.spec
        if spec.kind == "classify":
            head = load_classifier(
                model_path, data.label_names, max_length=m.max_length,
                classifier_dropout=m.classifier_dropout, hidden_dropout=m.hidden_dropout,
                attention_dropout=m.attention_dropout,
            )  # fmt: skip
            init_model(head, m.init)
        else:
            head = load_lm(model_path, "mlm", tokenizer, m.max_length, log)
        heads[spec.name] = head
    model = share_encoder(heads)
    if m.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    if m.gradient_checkpointing:
        for head in model.heads.values():
            head.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
    subtasks: list[Any] = []
    for data in tasks:
        head = model.heads[data.spec.name]
        if data.spec.kind == "mlm":
            subtasks.append(MLMTask(head))
            continue
        weights = None
        if cfg.train.class_weights == "balanced":
            ids = data.encoded["train"].labels or []
            counts = class_weights(ids, len(data.label_names))
            weights = torch.tensor(counts, dtype=torch.float)
        subtasks.append(
            ClassifyTask(
                head,
                data.label_names,
                weights,
                loss=cfg.train.loss,
                loss_params=cfg.train.loss_params,
            )
        )
    names = [t.spec.name for t in tasks]
    return MultiTask(model, names, subtasks, [t.spec.weight for t in tasks])


# ---------------------------------------------------------------------------------------------
# Logging and evaluation


class TaskLossLog:
    """Appends each task's mean unweighted training loss to metrics.jsonl at the logging steps
    (`{"split": "train_tasks", "step": ..., "loss/<task>": ...}`)."""

    def __init__(self, path: Path, log_every: int, names: Sequence[str]) -> None:
        self.path, self.log_every, self.names = path, log_every, list(names)
        self._sums = [0.0] * len(names)
        self._counts = [0] * len(names)

    def after_forward(self, state: Any) -> None:
        outputs = state.outputs or {}
        if "task_loss" in outputs:
            task = int(outputs["task_id"])
            self._sums[task] += float(outputs["task_loss"])
            self._counts[task] += 1

    def after_step(self, state: Any) -> None:
        if state.step % self.log_every and state.step != state.total_steps:
            return
        record: dict[str, Any] = {"split": "train_tasks", "step": state.step}
        for name, total, count in zip(self.names, self._sums, self._counts, strict=True):
            if count:
                record[f"loss/{name}"] = total / count
                record[f"batches/{name}"] = count
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self._sums = [0.0] * len(self.names)
        self._counts = [0] * len(self.names)


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def evaluate_tasks(
    cfg: MultitaskConfig,
    task: MultiTask,
    tasks: Sequence[TaskData],
    split: str,
    masks: dict[str, MLMMasking],
    device: Any,
) -> dict[str, dict[str, Any]]:
    """Each task's metrics on `split` (tasks without rows in it are left out)."""
    out = {}
    for data in tasks:
        name, encoded = data.spec.name, data.encoded.get(split)
        if encoded is None or len(encoded) == 0:
            continue
        single = task.task(name)
        if data.spec.kind == "classify":
            out[name] = evaluate_split(
                single, encoded, cfg.eval.batch_size, device, data.label_names
            )
        else:
            out[name] = evaluate_lm(
                single, encoded, masks[name], cfg.eval.batch_size, cfg.seed, device
            )
    return out


def flatten_metrics(per_task: dict[str, dict[str, Any]], kinds: dict[str, str]) -> dict:
    """`<task>/<metric>` for every scalar, plus each classification metric averaged over the
    classify tasks (so `eval.metric=accuracy` means the mean accuracy of all classify heads)."""
    flat: dict[str, Any] = {}
    for name, metrics in per_task.items():
        flat.update({f"{name}/{k}": v for k, v in _scalars(metrics).items()})
    classify = [per_task[n] for n in per_task if kinds[n] == "classify"]
    for metric in METRICS:
        values = [m[metric] for m in classify if isinstance(m.get(metric), int | float)]
        if values:
            flat[metric] = sum(values) / len(values)
    return flat


def check_eval_metric(cfg: MultitaskConfig) -> None:
    names = [t.name for t in cfg.tasks if t.kind == "classify"]
    allowed = list(METRICS) + [f"{n}/{m}" for n in names for m in METRICS]
    if cfg.eval.metric not in allowed:
        raise ConfigError(
            f"eval.metric='{cfg.eval.metric}' unknown; use a classification metric "
            f"({', '.join(METRICS)}; averaged over the classify tasks) or <task>/<metric>, "
            f"e.g. {names[0]}/accuracy"
        )


# ---------------------------------------------------------------------------------------------
# Saving


def save_heads(task: MultiTask, tasks: Sequence[TaskData], tokenizer: Any, run_dir: Path) -> None:
    """`model/<task>/`: each head as a complete Hugging Face model (the shared encoder's
    weights copied into each), plus `model/tasks.json`; written beside, then renamed."""
    tmp = run_dir / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    index = []
    for data in tasks:
        name = data.spec.name
        with attached(task.model.heads[name]) as head:
            head.save_pretrained(str(tmp / name), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp / name))
        index.append(
            {"name": name, "kind": data.spec.kind, "weight": data.spec.weight,
             "labels": data.label_names, "path": name}
        )  # fmt: skip
    (tmp / "tasks.json").write_text(json.dumps({"tasks": index}, indent=2) + "\n", "utf-8")
    shutil.rmtree(run_dir / "model", ignore_errors=True)
    os.replace(tmp, run_dir / "model")


# ---------------------------------------------------------------------------------------------
# The run


@leaves_process_as_found()
def run_multitask(
    cfg: MultitaskConfig,
    *,
    resume: Path | None = None,
    recipe: str = "multitask",
    log: Any = print,
    live_progress: bool | None = None,
    extra_handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train all tasks on one encoder; save `model/<task>/` and `summary.json`; returns it.

    Args:
        cfg: the run config (ignored when resuming: the run's saved config is used).
        resume: an unfinished run folder to continue from its newest intact checkpoint.
        recipe: the name used for new run folders.
        log: where progress messages go (a print-like function).
        live_progress: force the live progress bar on/off (default: only on a terminal).
        extra_handlers: more loop handlers, called after the standard ones (e.g. in tests).
    """
    started = time.perf_counter()
    _quiet_transformers()
    if resume is not None:
        cfg = open_run_for_resume(resume, schema=MultitaskConfig)  # type: ignore[assignment]
    if cfg.techniques:
        raise ConfigError(
            f"techniques ({', '.join(cfg.techniques)}) are not supported by `pretune multitask` "
            "yet; remove the techniques section"
        )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("`pretune multitask` runs in one process; drop --nproc / torchrun")
    check_eval_metric(cfg)
    set_determinism(cfg)
    model_path = resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    tokenizer = load_tokenizer(model_path)
    tasks = prepare_tasks(cfg, tokenizer)
    masks = {t.spec.name: _masking(t.spec, tokenizer) for t in tasks if t.spec.kind == "mlm"}
    task = build_multitask(cfg, model_path, tasks, tokenizer, log)

    run_dir = resume if resume is not None else create_run_dir(cfg, recipe)
    save_config(cfg, run_dir / "config.yaml")
    train_data = MixedBatches(
        [t.encoded["train"] for t in tasks], cfg.train.batch_size, cfg.seed, cfg.sampling,
        cfg.sampling_temperature, cfg.train.group_by_length,
        [masks.get(t.spec.name) for t in tasks],
    )  # fmt: skip
    batches = train_data.epoch_batches(0)
    quotas = {t.spec.name: sum(b.task == i for b in batches) for i, t in enumerate(tasks)}
    shares = [
        f"{t.spec.name} {quotas[t.spec.name]} ({len(t.encoded['train'])} rows)" for t in tasks
    ]
    log(f"{len(tasks)} tasks, {cfg.sampling} sampling: batches per epoch {', '.join(shares)}")
    training = build_training(cfg, task.model, len(batches), [])
    previous_seconds = 0.0
    if resume is not None:
        previous_seconds = resume_training(training, run_dir, recipe, log).get("train_seconds", 0.0)

    state = training.state
    accelerator = make_accelerator(cfg)
    if accelerator.num_processes > 1:
        raise ConfigError("`pretune multitask` runs in one process; drop --nproc / torchrun")
    state.model, state.optimizer = accelerator.prepare(state.model, state.optimizer)
    device = accelerator.device
    train_started = time.perf_counter()

    def elapsed() -> dict[str, float]:
        return {"train_seconds": previous_seconds + time.perf_counter() - train_started}

    kinds = {t.spec.name: t.spec.kind for t in tasks}
    has_validation = any(
        len(t.encoded.get("validation") or []) > 0 for t in tasks if t.spec.kind == "classify"
    )
    handlers = standard_handlers(
        cfg,
        run_dir,
        training,
        has_validation=has_validation,
        elapsed=elapsed,
        live=live_progress,
    )
    handlers.append(TaskLossLog(run_dir / "metrics.jsonl", cfg.train.log_every, task.names))
    handlers += list(extra_handlers)

    def validate() -> dict[str, Any]:
        per_task = evaluate_tasks(cfg, task, tasks, "validation", masks, device)
        return flatten_metrics(per_task, kinds)

    any_validation = any(len(t.encoded.get("validation") or []) > 0 for t in tasks)
    evaluate = validate if any_validation else None
    fit(state, task, train_data, training.plan, accelerator, handlers, evaluate)
    train_seconds = elapsed()["train_seconds"]

    best_path = run_dir / "checkpoints" / "best" / "model.safetensors"
    if best_path.is_file():
        state.model.load_state_dict(load_model_state(best_path))
    test = evaluate_tasks(cfg, task, tasks, "test", masks, device)
    save_heads(task, tasks, tokenizer, run_dir)
    summary = _summary(cfg, tasks, state, test, quotas, train_seconds, started)
    write_json_atomic(run_dir / "summary.json", summary)
    try_write_report(run_dir, log)  # never raises: a failed report must not lose the run
    summary["run_dir"] = str(run_dir)
    return summary


def _summary(
    cfg: MultitaskConfig,
    tasks: Sequence[TaskData],
    state: Any,
    test: dict[str, dict[str, Any]],
    quotas: dict[str, int],
    train_seconds: float,
    started: float,
) -> dict[str, Any]:
    sizes = [len(t.encoded["train"]) for t in tasks]
    probabilities = sampling_probabilities(sizes, cfg.sampling, cfg.sampling_temperature)
    per_task = {}
    for data, p in zip(tasks, probabilities, strict=True):
        name = data.spec.name
        per_task[name] = {
            "kind": data.spec.kind,
            "weight": data.spec.weight,
            "labels": data.label_names,
            "sizes": {key: len(split) for key, split in data.encoded.items()},
            "sampling_probability": round(p, 4),
            "batches_per_epoch": quotas[name],
            "test": test.get(name, {}),
            "validation": {
                k.split("/", 1)[1]: v
                for k, v in state.eval_metrics.items()
                if k.startswith(f"{name}/")
            },
            "model": f"model/{name}",
        }
    primary = next(t for t in tasks if t.spec.kind == "classify")
    return {
        "recipe": "multitask",
        "task": "multitask",
        "primary_task": primary.spec.name,
        "labels": primary.label_names,  # the report's tables show the primary task
        "test": test.get(primary.spec.name, {}),
        "tasks": per_task,
        "sampling": {"strategy": cfg.sampling, "temperature": cfg.sampling_temperature},
        "best_validation": {
            "metric": cfg.eval.metric,
            "value": state.best_metric,
            "step": state.best_step,
        },
        "steps": state.step,
        "epochs": round(state.epoch + state.batch_in_epoch / max(1, sum(quotas.values())), 3),
        "data": {"sizes": {t.spec.name: sizes[i] for i, t in enumerate(tasks)}},
        "timing": {
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
            "train_examples_per_s": round(state.examples_seen / max(train_seconds, 1e-9), 2),
        },
        "environment": environment(),
    }
