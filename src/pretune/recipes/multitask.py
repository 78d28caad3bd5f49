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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.catalog.common import CLASSIFY_METRICS
from pretune.data.multitask import MixedBatches, sampling_probabilities
from pretune.data.multitask_data import TaskData, mlm_masking, prepare_tasks
from pretune.evaluate.evaluator import evaluate_split
from pretune.evaluate.lm import evaluate_lm
from pretune.models.init import init_model
from pretune.models.load import load_classifier, load_tokenizer, resolve_model_path
from pretune.models.presets import load_lm
from pretune.recipes._runner import recipe
from pretune.recipes.finetune import classify_task_factory
from pretune.tasks.mlm import MLMTask
from pretune.tasks.multitask import MultiTask, attached, share_encoder
from pretune.train.session import Session
from pretune.train.setup import innermost_task

__all__ = ["TaskLossLog", "build_shared_model", "multitask_factory", "run_multitask"]


# ---------------------------------------------------------------------------------------------
# Model and task


def build_shared_model(
    cfg: Any, model_path: Path, tasks: Sequence[TaskData], tokenizer: Any, log: Any
) -> Any:
    """Heads sharing one encoder (owned by the first classify head)."""
    m = cfg.model
    heads: dict[str, Any] = {}
    # Classify heads first: the owner's encoder is shared, and a BERT classifier needs the
    # pooler that an MLM model's encoder lacks.
    for data in sorted(tasks, key=lambda t: t.spec.kind != "classify"):
        if data.spec.kind == "classify":
            head = load_classifier(
                model_path, data.label_names, max_length=m.max_length,
                classifier_dropout=m.classifier_dropout, hidden_dropout=m.hidden_dropout,
                attention_dropout=m.attention_dropout,
            )  # fmt: skip
            if m.init != "none":
                init_model(head, m.init)
        else:
            head = load_lm(model_path, "mlm", tokenizer, m.max_length, log)
        heads[data.spec.name] = head
    model = share_encoder(heads)
    if m.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    if m.gradient_checkpointing:
        for head in model.heads.values():
            head.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
    return model


def multitask_factory(cfg: Any, tasks: Sequence[TaskData]) -> Any:
    """model -> the MultiTask over its heads (MLM or classification, with class weights)."""

    def make_task(model: Any) -> MultiTask:
        subtasks: list[Any] = []
        for data in tasks:
            head = model.heads[data.spec.name]
            if data.spec.kind == "mlm":
                subtasks.append(MLMTask(head))
            else:
                labels = data.encoded["train"].labels or []
                subtasks.append(classify_task_factory(cfg, data.label_names, labels)(head))
        names = [t.spec.name for t in tasks]
        return MultiTask(model, names, subtasks, [t.spec.weight for t in tasks])

    return make_task


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
    cfg: Any,
    task: MultiTask,
    tasks: Sequence[TaskData],
    split: str,
    masks: dict[str, Any],
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
                single, encoded, cfg.eval.batch_size, device, masks[name], cfg.seed
            )
    return out


def flatten_metrics(per_task: dict[str, dict[str, Any]], kinds: dict[str, str]) -> dict:
    """`<task>/<metric>` for every scalar, plus each classification metric averaged over the
    classify tasks (so `eval.metric=accuracy` means the mean accuracy of all classify heads)."""
    flat: dict[str, Any] = {}
    for name, metrics in per_task.items():
        flat.update({f"{name}/{k}": v for k, v in _scalars(metrics).items()})
    classify = [per_task[n] for n in per_task if kinds[n] == "classify"]
    for metric in CLASSIFY_METRICS:
        values = [m[metric] for m in classify if isinstance(m.get(metric), int | float)]
        if values:
            flat[metric] = sum(values) / len(values)
    return flat


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


def _mixed_batches(cfg: Any, tasks: list[TaskData], masks: dict, log: Any) -> tuple:
    train_data = MixedBatches(
        [t.encoded["train"] for t in tasks], cfg.train.batch_size, cfg.seed, cfg.sampling,
        cfg.sampling_temperature, cfg.train.group_by_length,
        [masks.get(t.spec.name) for t in tasks],
    )  # fmt: skip
    batches = train_data.epoch_batches(0)
    quotas = {t.spec.name: sum(b.task == i for b in batches) for i, t in enumerate(tasks)}
    shares = [f"{t.spec.name} {quotas[t.spec.name]} ({len(t.encoded['train'])} rows)"
              for t in tasks]  # fmt: skip
    log(f"{len(tasks)} tasks, {cfg.sampling} sampling: batches per epoch {', '.join(shares)}")
    return train_data, quotas


@recipe("multitask")
def run_multitask(cfg: Any, session: Session) -> dict[str, Any]:
    """Train all tasks on one encoder; save `model/<task>/`; returns the summary."""
    model_path = resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    tokenizer = load_tokenizer(model_path)
    tasks = prepare_tasks(cfg, tokenizer)
    masks = {t.spec.name: mlm_masking(t.spec, tokenizer) for t in tasks if t.spec.kind == "mlm"}
    model = build_shared_model(cfg, model_path, tasks, tokenizer, session.log)
    train_data, quotas = _mixed_batches(cfg, tasks, masks, session.log)
    kinds = {t.spec.name: t.spec.kind for t in tasks}
    evaluate = None
    if any(len(t.encoded.get("validation") or []) > 0 for t in tasks):

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            per_task = evaluate_tasks(cfg, innermost_task(task), tasks, "validation", masks,
                                      device)  # fmt: skip
            return flatten_metrics(per_task, kinds)

    loss_log = TaskLossLog(session.run_dir / "metrics.jsonl", cfg.train.log_every, list(kinds))
    trained = session.train(
        model, multitask_factory(cfg, tasks), train_data, evaluate=evaluate, handlers=[loss_log]
    )
    if not trained.main_process:
        return {}
    task = innermost_task(trained.task)
    test = evaluate_tasks(cfg, task, tasks, "test", masks, trained.device)
    save_heads(task, tasks, tokenizer, session.run_dir)
    return _summary(cfg, tasks, trained.state, test, quotas)


def _summary(
    cfg: Any,
    tasks: Sequence[TaskData],
    state: Any,
    test: dict[str, dict[str, Any]],
    quotas: dict[str, int],
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
        "task": "multitask",
        "primary_task": primary.spec.name,
        "labels": primary.label_names,  # the report's tables show the primary task
        "test": test.get(primary.spec.name, {}),
        "tasks": per_task,
        "sampling": {"strategy": cfg.sampling, "temperature": cfg.sampling_temperature},
        "epochs": round(state.epoch + state.batch_in_epoch / max(1, sum(quotas.values())), 3),
        "data": {"sizes": {t.spec.name: sizes[i] for i, t in enumerate(tasks)}},
    }
