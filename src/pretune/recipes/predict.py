"""Recipe: label new texts with a trained run; writes CSV or JSONL with class probabilities."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from pretune.data.encode import encode_split
from pretune.data.sources import load_source
from pretune.errors import CheckpointError, DataError
from pretune.evaluate.evaluator import predict_probabilities
from pretune.models.first_token import first_token_inference
from pretune.models.load import load_tokenizer

__all__ = [
    "Predictor",
    "find_model_dir",
    "onnx_logits",
    "predict_texts",
    "predict_to",
    "read_texts",
]


def find_model_dir(run: Path) -> Path:
    """The Hugging Face model folder of a run (`run/model`) or `run` itself if it is one."""
    for candidate in (run / "model", run):
        if (candidate / "config.json").is_file():
            return candidate
    raise CheckpointError(
        f"{run} has no trained model (no model/config.json); give a finished run folder"
    )


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


def onnx_logits(path: Path, threads: int | None = None) -> Callable[[dict], torch.Tensor]:
    """An `inputs -> logits` function running an exported model (`pretune export`) with
    onnxruntime; an absent attention mask (a batch without padding) is all ones."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def logits_of(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask", torch.ones_like(ids))
        feed = {"input_ids": ids.cpu().numpy(), "attention_mask": mask.cpu().numpy()}
        return torch.from_numpy(session.run(["logits"], feed)[0])

    return logits_of


@dataclass
class Predictor:
    """A run's classifier loaded once (tokenizer, model, max length), for many predictions.

    `model` is the torch classifier (int8 for a `pretune quantize` folder), or for a
    `pretune export` folder (`model.onnx`) an onnxruntime `inputs -> logits` function.
    """

    model: torch.nn.Module | Callable[[dict], torch.Tensor]
    tokenizer: Any
    max_length: int
    label_names: list[str]

    @classmethod
    def load(cls, run: Path, first_token_only: bool = True) -> Predictor:
        """Load a run's classifier; `first_token_only` computes the last layer only where the
        head reads, when the architecture allows it (`models.first_token`; same predictions)."""
        from transformers import AutoConfig

        # deploy.runs imports this module, hence the late import.
        from pretune.deploy.runs import load_run_model, run_max_length

        model_dir = find_model_dir(run)
        if (model_dir / "model.onnx").is_file():
            tokenizer = load_tokenizer(model_dir)
            config = AutoConfig.from_pretrained(str(model_dir))
            names = [config.id2label[i] for i in range(len(config.id2label))]
            logits_of = onnx_logits(model_dir / "model.onnx")
            return cls(logits_of, tokenizer, run_max_length(run, model_dir, tokenizer), names)
        loaded = load_run_model(run)  # int8 again for a `pretune quantize` folder
        if first_token_only:
            first_token_inference(loaded.model)
        return cls(loaded.model, loaded.tokenizer, loaded.max_length, loaded.label_names)

    def probabilities(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, K) of `texts`, in input order: tokenised once, run in
        batches of similar length (least padding), under inference mode."""
        split = encode_split(self.tokenizer, texts, max_length=self.max_length)
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        for indices, probs in predict_probabilities(
            self.model, split, batch_size, torch.device("cpu")
        ):
            out[indices] = probs.numpy()
        return out


def predict_texts(
    run: Path, texts: list[str], batch_size: int = 64
) -> tuple[list[str], np.ndarray]:
    """(label names, probabilities (N, K)) of a run's model on `texts`, in input order.

    `run` may also be an ensemble folder (`pretune ensemble`): its members' mean probabilities.
    """
    if (run / "ensemble.json").is_file():
        from pretune.recipes.ensemble import predict_ensemble

        return predict_ensemble(run, texts, batch_size)
    predictor = Predictor.load(run)
    return predictor.label_names, predictor.probabilities(texts, batch_size)


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
    if not (run / "ensemble.json").is_file():
        find_model_dir(run)  # fail before reading a large input
    texts = read_texts(source, text_column)
    names, probs = predict_texts(run, texts, batch_size)
    if output is None:
        _write(sys.stdout, "jsonl", texts, names, probs)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        _write(handle, output.suffix.lstrip("."), texts, names, probs)
    tmp.replace(output)
    print(f"wrote {len(texts)} predictions to {output}", file=sys.stderr)
