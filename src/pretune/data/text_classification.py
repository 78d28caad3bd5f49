"""The text-classification data chain: load, clean, split and encode labelled texts.

    source (+ validation/test files) -> clean -> stratified split -> [subsample, balance]
    -> label set -> tokenize (labels as ids)

Shared by every recipe that classifies text (finetune, distill, lr-find, cv, multitask) and by
the commands that re-create a finished run's test split (evaluate, explain, ensemble).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pretune.config import DataConfig
from pretune.data.balance import imbalance_ratio, label_counts, resample
from pretune.data.clean import CleaningReport, clean_dataset
from pretune.data.encode import EncodedSplit, encode_labels, encode_split
from pretune.data.sources import load_source, load_source_splits
from pretune.data.split import check_label_sets, split_dataset
from pretune.errors import DataError

__all__ = [
    "PreparedData",
    "column",
    "encode_splits",
    "load_clean",
    "prepare_data",
    "report_data",
]


@dataclass
class PreparedData:
    """Cleaned, split text data with its label set and what cleaning removed."""

    splits: dict[str, Any]  # train / validation / test -> datasets.Dataset (text, label)
    label_names: list[str]
    cleaning: dict[str, dict[str, Any]]  # per input file: CleaningReport.to_dict()


def load_clean(cfg: DataConfig, source: str) -> tuple[Any, CleaningReport]:
    dataset = load_source(
        source,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        encoding_errors=cfg.encoding_errors,
    )
    return _clean(cfg, dataset, source)


def _clean(cfg: DataConfig, dataset: Any, source: str) -> tuple[Any, CleaningReport]:
    if "text" not in dataset.column_names:
        raise DataError(
            f"data.source={source} has no text (columns: {', '.join(dataset.column_names)}); "
            "text classification needs a text column"
        )
    c = cfg.clean
    return clean_dataset(
        dataset,
        drop_empty=c.drop_empty,
        dedupe=c.dedupe,
        min_chars=c.min_chars,
        max_chars=c.max_chars,
        has_label=True,
        source_name=source,
    )


def column(dataset: Any, name: str) -> list[Any]:
    # datasets >= 4 returns a lazy Column; one slice reads it into a list at once.
    return list(dataset[name][:])


def _subsample(dataset: Any, size: int, seed: int) -> Any:
    # Stratified, so "5% of the labels" keeps every class present.
    if size >= len(dataset):
        return dataset
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(
        list(range(len(dataset))),
        train_size=size,
        random_state=seed,
        stratify=column(dataset, "label"),
    )
    return dataset.select(sorted(keep))


def prepare_data(cfg: DataConfig, seed: int) -> PreparedData:
    """Load, clean and split `cfg.source` (plus optional separate validation/test files).

    A named or saved data set's own validation and test splits are used as they are; only
    the ones it lacks are carved out of its train split."""
    own = load_source_splits(
        cfg.source, text_column=cfg.text_column, label_column=cfg.label_column
    ) or {"train": None}
    cleaning: dict[str, dict[str, Any]] = {}
    kept: dict[str, Any] = {}
    for key, raw in own.items():
        name = cfg.source if len(own) == 1 else f"{cfg.source}[{key}]"
        kept[key], report = load_clean(cfg, cfg.source) if raw is None else _clean(cfg, raw, name)
        cleaning[name] = report.to_dict()
    splits = dict(
        split_dataset(
            kept["train"],
            val_fraction=0.0 if cfg.validation_file or "validation" in kept else cfg.val_fraction,
            test_fraction=0.0 if cfg.test_file or "test" in kept else cfg.test_fraction,
            seed=seed,
        )
    )
    splits.update({key: kept[key] for key in ("validation", "test") if key in kept})
    for key, path in (("validation", cfg.validation_file), ("test", cfg.test_file)):
        if path:
            splits[key], extra = load_clean(cfg, path)
            cleaning[path] = extra.to_dict()
    if cfg.max_train_examples:
        splits["train"] = _subsample(splits["train"], cfg.max_train_examples, seed)
    check_label_sets(splits, source_name=cfg.source)  # type: ignore[arg-type]
    if cfg.balance != "none":
        splits["train"] = resample(splits["train"], cfg.balance, seed)
    label_names = sorted(set(column(splits["train"], "label")))
    if len(label_names) < 2:
        raise DataError(
            f"{cfg.source}: the training split has only one label ({label_names[0]!r}); "
            "classification needs at least two"
        )
    return PreparedData(splits, label_names, cleaning)


def encode_splits(tokenizer: Any, data: PreparedData, max_length: int) -> dict[str, EncodedSplit]:
    """Tokenize every split with its labels as ids in `data.label_names` order."""
    encoded = {}
    for key, dataset in data.splits.items():
        labels = encode_labels(column(dataset, "label"), data.label_names, f"{key} split")
        texts = column(dataset, "text")
        encoded[key] = encode_split(tokenizer, texts, max_length=max_length, labels=labels)
    return encoded


def report_data(
    data: PreparedData, encoded: dict[str, EncodedSplit], max_length: int, log: Any
) -> None:
    """Say what cleaning removed, the split sizes, and warn when truncation is heavy."""
    for source, report in data.cleaning.items():
        removed = [f"{s['removed']} {s['name']}" for s in report["steps"] if s["removed"]]
        log(
            f"data {source}: kept {report['rows_out']} of {report['rows_in']} rows"
            + (f" (removed {', '.join(removed)})" if removed else "")
        )
    sizes = ", ".join(f"{key} {len(split)}" for key, split in encoded.items())
    log(f"splits: {sizes}; labels: {', '.join(data.label_names)}")
    counts = label_counts(column(data.splits["train"], "label"))
    ratio = imbalance_ratio(counts)
    if ratio > 3:
        log(
            f"note: classes are imbalanced (largest/smallest = {ratio:.1f}: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + "); consider train.class_weights=balanced and eval.metric=macro_f1"
        )
    train = encoded["train"]
    share = train.truncated / max(1, len(train))
    if share > 0.5:
        log(
            f"note: {share:.0%} of training texts are cut at model.max_length={max_length} "
            "tokens; raise it if the end of a text matters for its label"
        )
