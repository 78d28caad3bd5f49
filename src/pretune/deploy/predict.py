"""Label new texts with a run (or an ensemble folder): CSV or JSONL with class probabilities."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

import numpy as np

from pretune.data.sources import load_source
from pretune.errors import DataError
from pretune.files import atomic_writer
from pretune.runs import ENSEMBLE_FILE, find_model_dir, predict_texts

__all__ = ["predict_to", "read_texts"]


def read_texts(source: str, text_column: str = "text") -> list[str]:
    """Texts from stdin (`-`, one per line) or any file `load_source` reads (labels ignored)."""
    if source == "-":
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    else:
        texts = load_source(source, text_column=text_column, label_column=None)["text"]
        texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        raise DataError(f"{'standard input' if source == '-' else source}: no texts to predict")
    return texts


def _write(handle: IO[str], fmt: str, texts: list[str], names: list[str], probs: np.ndarray):
    best = probs.argmax(axis=1)
    if fmt == "csv":
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "probability", *[f"p_{n}" for n in names]])
        for text, k, row in zip(texts, best, probs, strict=True):
            writer.writerow([text, names[k], f"{row[k]:.6f}", *[f"{p:.6f}" for p in row]])
        return
    for text, k, row in zip(texts, best, probs, strict=True):
        record = {
            "text": text,
            "label": names[k],
            "probability": round(float(row[k]), 6),
            "probabilities": {n: round(float(p), 6) for n, p in zip(names, row, strict=True)},
        }
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def predict_to(
    run: Path, source: str, output: Path | None, text_column: str = "text", batch_size: int = 64
) -> None:
    """Predict `source` with `run` and write to `output` (.csv or .jsonl) or stdout (JSONL)."""
    if output is not None and output.suffix not in (".csv", ".jsonl"):
        raise DataError(f"--output {output}: use a .csv or .jsonl file name")
    if not (run / ENSEMBLE_FILE).is_file():
        find_model_dir(run)  # fail before reading a large input
    texts = read_texts(source, text_column)
    names, probs = predict_texts(run, texts, batch_size)
    if output is None:
        _write(sys.stdout, "jsonl", texts, names, probs)
        return
    with atomic_writer(output, newline="") as handle:  # WriteError naming --output if it fails
        _write(handle, output.suffix.lstrip("."), texts, names, probs)
    print(f"wrote {len(texts)} predictions to {output}", file=sys.stderr)
