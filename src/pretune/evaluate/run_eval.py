"""Evaluate a loaded classifier of a finished run on its own test split or on any labelled source.

    eval data (the run's test split, or data=<source>) -> match labels by name -> probabilities
    -> metrics, curves, calibration, errors [-> human review, attack]
    [-> with save: <run>/eval/<name>/, with output: <output>/ {metrics.json, predictions.jsonl}]

Reading a run never changes it unless asked: without `save` nothing is written into the run
folder.

Cross-domain data may carry labels the model never saw: those rows are counted per label and
left out of the metrics, never a crash. Opening the run is the caller's (`pretune.runs`); the
run's splits come in as `split_of(name)`, re-created with the run's seed.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.config import RunConfig
from pretune.data.clean import clean_dataset
from pretune.data.encode import EncodedSplit, encode_split
from pretune.data.sources import load_source
from pretune.errors import ConfigError, DataError
from pretune.evaluate.analysis import collect_probabilities, evaluation_sections
from pretune.evaluate.calibration import apply_temperature
from pretune.evaluate.human import export_review, human_agreement, read_review
from pretune.files import atomic_writer, write_json_atomic
from pretune.metrics.classification import StreamingClassificationMetrics
from pretune.tasks.result_checks import MIN_EVAL_ROWS

__all__ = ["EvalOptions", "SplitOf", "evaluate_model", "match_labels", "write_predictions"]

SplitOf = Callable[[str], Any]  # split name -> the run's datasets.Dataset, re-created


@dataclass
class EvalOptions:
    """What `pretune evaluate` was asked to do (see docs/evaluation.md)."""

    data: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    name: str | None = None
    calibrate: bool = False
    export: Path | None = None
    human: Path | None = None
    sample: int = 100
    attack: str | None = None
    epsilon: float = 0.01
    steps: int = 5
    batch_size: int = 64
    save: bool = False  # write metrics.json and predictions.jsonl into <run>/eval/<name>/
    output: Path | None = None  # ... or into this folder


@dataclass
class EvalData:
    """Texts with label ids in the model's label set; rows with unknown labels are counted."""

    texts: list[str]
    given: list[str]
    labels: list[int]
    unknown: dict[str, int]
    source: str


def match_labels(given: Sequence[str], names: Sequence[str]) -> tuple[list[int | None], Counter]:
    """Label strings -> model label ids, by exact name, else ignoring case and outer spaces.

    Returns:
        ``(ids, unknown)``: ids has None where the label is not the model's; ``unknown``
        counts those labels.
    """
    exact = {name: i for i, name in enumerate(names)}
    loose = {name.strip().lower(): i for i, name in enumerate(names)}
    ids: list[int | None] = []
    unknown: Counter = Counter()
    for label in given:
        i = exact.get(label, loose.get(str(label).strip().lower()))
        ids.append(i)
        if i is None:
            unknown[label] += 1
    return ids, unknown


def _eval_data(cfg: RunConfig, opts: EvalOptions, names: list[str], split_of: SplitOf) -> EvalData:
    if opts.data is None:
        test = split_of("test")
        if len(test) == 0:
            raise DataError(
                "the run has no test split (data.test_fraction=0); give one with data=<source>"
            )
        texts, given, source = list(test["text"][:]), list(test["label"][:]), "test split"
    else:
        dataset = load_source(
            opts.data,
            text_column=opts.text_column or cfg.data.text_column,
            label_column=opts.label_column or cfg.data.label_column,
        )
        # Keep duplicates: evaluation data is scored as given; only unusable rows go.
        dataset, _ = clean_dataset(dataset, dedupe="none", source_name=opts.data)
        texts, given, source = list(dataset["text"][:]), list(dataset["label"][:]), opts.data
    ids, unknown = match_labels(given, names)
    keep = [i for i, label in enumerate(ids) if label is not None]
    if not keep:
        raise DataError(
            f"{source}: none of its labels ({', '.join(sorted(unknown)[:5])}) is one the model "
            f"knows ({', '.join(names)}); check data label names or label_column="
        )
    return EvalData(
        texts=[texts[i] for i in keep],
        given=[names[ids[i]] for i in keep],  # type: ignore[index]
        labels=[ids[i] for i in keep],  # type: ignore[misc]
        unknown=dict(unknown),
        source=source,
    )


def _validation_probs(cfg: RunConfig, model, tokenizer, names, opts, device, split_of: SplitOf):
    """The run's validation split (re-created with its seed) for temperature scaling."""
    validation = split_of("validation")
    if len(validation) == 0:
        raise DataError("calibrate=true needs the run's validation split, but it has none")
    ids, _ = match_labels(list(validation["label"][:]), names)
    keep = [i for i, label in enumerate(ids) if label is not None]
    if len(keep) < MIN_EVAL_ROWS:  # a temperature fitted to a few rows follows those rows
        raise DataError(
            f"calibrate=true: the run's validation split has {len(keep)} labelled rows, fewer "
            f"than the {MIN_EVAL_ROWS} a temperature needs (fitted to fewer, it follows those few "
            "rows); run without calibrate=, or train with more validation data"
        )
    texts = list(validation["text"][:])
    split = encode_split(
        tokenizer, [texts[i] for i in keep], max_length=cfg.model.max_length,
        labels=[ids[i] for i in keep],
    )  # fmt: skip
    return collect_probabilities(model, split, opts.batch_size, device), np.asarray(split.labels)


def _attack(model, split: EncodedSplit, opts: EvalOptions) -> dict[str, Any]:
    if importlib.util.find_spec("pretune.evaluate.robustness") is None:
        raise ConfigError(
            f"attack={opts.attack}: adversarial evaluation is not available in this install "
            "(pretune.evaluate.robustness is missing); run without attack="
        )
    from pretune.evaluate import robustness  # type: ignore[attr-defined]

    return robustness.evaluate_under_attack(
        model, split, opts.attack, opts.epsilon, opts.steps, opts.batch_size
    )


def write_predictions(path: Path, data: EvalData, probs: np.ndarray, names, calibrated) -> None:
    pred = probs.argmax(axis=1)
    with atomic_writer(path) as handle:  # fsynced, renamed; a WriteError naming path if not
        for i, text in enumerate(data.texts):
            record = {
                "id": i,
                "text": text,
                "label": data.given[i],
                "predicted": names[pred[i]],
                "confidence": round(float(probs[i, pred[i]]), 6),
                "correct": bool(pred[i] == data.labels[i]),
                "probabilities": dict(zip(names, probs[i].round(6).tolist(), strict=True)),
            }
            if calibrated is not None:
                record["calibrated_confidence"] = round(float(calibrated[i, pred[i]]), 6)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _log_unknown(data: EvalData, log: Callable[[str], None]) -> None:
    if data.unknown:
        shown = ", ".join(f"{k!r} ({v})" for k, v in sorted(data.unknown.items()))
        log(f"note: {sum(data.unknown.values())} rows have labels the model does not know "
            f"and are left out: {shown}")  # fmt: skip


def _scores(probs: np.ndarray, data: EvalData, split: EncodedSplit, names, val) -> dict[str, Any]:
    """Streaming metrics plus the analysis sections (curves, calibration, errors, ...)."""
    labels = np.asarray(data.labels)
    sections = evaluation_sections(probs, labels, data.texts, split.lengths, names, val)
    streaming = StreamingClassificationMetrics(len(names))
    streaming.update(torch.log(torch.as_tensor(probs).double().clamp_min(1e-12)), labels)
    return {"metrics": {**streaming.compute(names), **sections.pop("scores")}, **sections}


def _review_and_attack(result, model, split, data, probs, names, opts, log) -> None:
    """The optional parts: export for human review, agreement with people, an attack."""
    predicted = [names[k] for k in probs.argmax(axis=1)]
    if opts.export is not None:
        n = export_review(opts.export, data.texts, predicted, probs.max(axis=1), opts.sample)
        log(f"wrote {n} predictions to review to {opts.export} (fill in human_label)")
    if opts.human is not None:
        rows = read_review(opts.human)
        result["human"] = human_agreement(
            rows, data.texts, data.given, predicted, names, str(opts.human)
        )
    if opts.attack is not None:
        result["attack"] = _attack(model, split, opts)


def evaluate_model(
    run: Path,
    cfg: RunConfig,
    model: Any,
    tokenizer: Any,
    names: list[str],
    opts: EvalOptions,
    split_of: SplitOf,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate a run's loaded classifier; returns the metrics dict (with ``"eval_dir"``: where
    `metrics.json` and `predictions.jsonl` were written, `<run>/eval/<name>/` with
    `opts.save`, `opts.output` when given, else None: nothing written)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    data = _eval_data(cfg, opts, names, split_of)
    _log_unknown(data, log)
    split = encode_split(tokenizer, data.texts, max_length=cfg.model.max_length, labels=data.labels)
    probs = collect_probabilities(model, split, opts.batch_size, device)
    val = (
        _validation_probs(cfg, model, tokenizer, names, opts, device, split_of)
        if opts.calibrate
        else None
    )
    name = opts.name or ("test" if opts.data is None else Path(opts.data).stem)
    result: dict[str, Any] = {
        "run": str(run),
        "name": name,
        "data": data.source,
        "labels": names,
        "count": len(data.texts),
        "unknown_labels": data.unknown,
        "skipped_rows": sum(data.unknown.values()),
        **_scores(probs, data, split, names, val),
    }
    temperature = result["calibration"]["temperature"]
    calibrated = apply_temperature(probs, temperature) if temperature else None
    _review_and_attack(result, model, split, data, probs, names, opts, log)
    out = run / "eval" / name if opts.save else None
    if opts.output is not None:
        out = Path(opts.output)
    result["eval_dir"] = None if out is None else str(out)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_predictions(out / "predictions.jsonl", data, probs, names, calibrated)
        write_json_atomic(out / "metrics.json", result)
    return result
