"""The data of a multi-task run: each task's cleaned, split and encoded text.

A classify task is a label column of a labelled source (the text-classification chain); an
mlm task is text, split like the classify task that reads the same source when there is one,
so no validation or test text of that task is ever trained on, even without labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pretune.config import DataConfig
from pretune.data.clean import clean_dataset
from pretune.data.encode import EncodedSplit, encode_split
from pretune.data.masking import MLMMasking
from pretune.data.sources import load_source
from pretune.data.split import split_dataset
from pretune.data.text_classification import PreparedData, encode_splits, prepare_data
from pretune.errors import ConfigError, DataError

__all__ = ["TaskData", "mlm_masking", "prepare_tasks"]


@dataclass
class TaskData:
    """One task's encoded splits (train / validation / test) and, for classify, its labels."""

    spec: Any
    encoded: dict[str, EncodedSplit]
    label_names: list[str] = field(default_factory=list)
    prepared: PreparedData | None = None  # classify: the cleaned splits (texts for analysis)


def _task_data_config(cfg: Any, spec: Any, label_column: str) -> DataConfig:
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


def _in_task(spec: Any, dcfg: DataConfig, call: Any) -> Any:
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


def _classify_data(cfg: Any, spec: Any, tokenizer: Any) -> TaskData:
    dcfg = _task_data_config(cfg, spec, spec.label_column or cfg.data.label_column)
    data = _in_task(spec, dcfg, lambda: prepare_data(dcfg, cfg.seed))
    encoded = encode_splits(tokenizer, data, cfg.model.max_length)
    return TaskData(spec, encoded, data.label_names, data)


def _mlm_texts(cfg: Any, spec: Any, twin: Any) -> dict[str, list]:
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


def prepare_tasks(cfg: Any, tokenizer: Any) -> list[TaskData]:
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


def mlm_masking(spec: Any, tokenizer: Any) -> MLMMasking:
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
