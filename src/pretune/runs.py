"""Open a finished run folder: its summary, config, model of any kind, label names and test split.

Every command that reads a run (predict, evaluate, explain, serve, quantize, export, prune,
ensemble) opens it here, so they agree on where the model is, how an int8 or ONNX folder is
loaded, and which rows are the run's test split (re-created from its config and seed, exactly
as training split it).

A "run" may be a run folder (`config.yaml`, `model/`), a model folder written by `pretune
quantize` / `prune` / `export` (the run's `config.yaml` travels with it), or an ensemble folder
(`ensemble.json`, written by `pretune ensemble`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pretune.catalog import load_run_config
from pretune.config import RunConfig
from pretune.data.encode import EncodedSplit, encode_labels, encode_split
from pretune.data.text_classification import prepare_data
from pretune.errors import CheckpointError, ConfigError
from pretune.evaluate.evaluator import predict_probabilities
from pretune.models.damage import (
    ONNX_FILE,
    QUANTIZATION_FILE,
    damaged_file_error,
    named_damage,
    read_json_file,
    read_yaml_file,
)
from pretune.models.first_token import first_token_inference
from pretune.models.load import load_tokenizer, quiet_transformers

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "ENSEMBLE_FILE",
    "QUANTIZATION_FILE",
    "Predictor",
    "RunModel",
    "average_probabilities",
    "find_model_dir",
    "label_map",
    "load_run_model",
    "load_test_split",
    "member_labels",
    "member_probabilities",
    "onnx_logits",
    "predict_ensemble",
    "predict_texts",
    "quantize_model",
    "read_ensemble",
    "read_summary",
    "run_config",
    "run_config_path",
    "run_max_length",
    "run_split",
]

# An ensemble folder (pretune ensemble): its members and label order.
ENSEMBLE_FILE = "ensemble.json"


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json; a CheckpointError when the run did not finish or the file is
    damaged."""
    path = run_dir / "summary.json"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no summary.json: the run did not finish")
    return read_json_file(path)


def find_model_dir(run: Path) -> Path:
    """The Hugging Face model folder of a run (`run/model`) or `run` itself if it is one."""
    for candidate in (run / "model", run):
        if (candidate / "config.json").is_file():
            return candidate
    raise CheckpointError(
        f"{run} has no trained model (no model/config.json); give a finished run folder"
    )


def run_config_path(run: Path, model_dir: Path | None = None) -> Path | None:
    """The config.yaml that trained this model: in the run, the model folder or its parent."""
    folders = [run] if model_dir is None else [run, model_dir, model_dir.parent]
    for folder in folders:
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def run_config(
    run_dir: Path, model_dir: Path | None = None, overrides: list[str] | None = None
) -> RunConfig:
    """The config a finished run was trained with (the one place that loads it); `overrides`
    (`key=value`) start a new run from it, e.g. fine-tuning a pruned model."""
    path = run_config_path(Path(run_dir), model_dir)
    if path is None:
        raise CheckpointError(
            f"{run_dir} has no config.yaml; give the run folder, not only its model/"
        )
    read_yaml_file(path)  # a damaged file is named with what to do, on one line
    return load_run_config(path, overrides)


def run_split(cfg: RunConfig, split: str = "test") -> Dataset:
    """One split of the run's data (train / validation / test), re-created with its seed."""
    return prepare_data(cfg.data, cfg.seed).splits[split]


def member_labels(run: Path) -> list[str]:
    """A finished run's label names in id order (from model/config.json)."""
    config = run / "model" / "config.json"
    if not config.is_file():
        raise CheckpointError(f"{run} has no model/config.json: give finished run folders")
    return label_map(config, read_json_file(config).get("id2label", {}))


def label_map(config_file: Path, id2label: dict) -> list[str]:
    """The label names in class-id order of a model's `id2label` (keys int or str); a map
    with a gap or a stray key is a damaged `config_file`."""
    names = {str(k): v for k, v in id2label.items()}
    try:
        return [str(names[str(i)]) for i in range(len(names))]
    except KeyError:
        raise damaged_file_error(
            config_file, "its id2label label map is not one name per class id 0..K-1"
        ) from None


def quantize_model(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with every nn.Linear dynamically quantised to int8 (CPU only)."""
    import copy

    from torch.ao.quantization import quantize_dynamic

    # quantize_dynamic needs a quantised-kernel engine; fbgemm (x86) or qnnpack (ARM).
    engines = torch.backends.quantized.supported_engines
    if torch.backends.quantized.engine == "none" or torch.backends.quantized.engine not in engines:
        torch.backends.quantized.engine = "fbgemm" if "fbgemm" in engines else engines[0]
    with warnings.catch_warnings():
        # torch 2.13 announces the deprecation of quantised dtypes on every call (torchao is
        # the successor); docs/deploy.md says so once instead of every run.
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        model = copy.deepcopy(model).eval()
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


@dataclass
class RunModel:
    """A run's classifier (eval mode, CPU), its tokenizer, label names and max length."""

    run_dir: Path
    model_dir: Path
    model: Any
    tokenizer: Any
    label_names: list[str]
    max_length: int


def load_run_model(run: Path, **model_kwargs: Any) -> RunModel:
    """Load the classifier of a run folder (or of a model folder, e.g. an int8 or pruned one).

    A folder with `quantization.json` is quantised again on load, which gives exactly the saved
    int8 model: dynamic quantisation is a deterministic function of the float weights.
    `model_kwargs` go to `from_pretrained` (e.g. `attn_implementation="eager"`).
    """
    from transformers import AutoModelForSequenceClassification

    run = Path(run)
    model_dir = find_model_dir(run)
    with named_damage(model_dir), quiet_transformers():  # no "Loading weights" bar
        tokenizer = load_tokenizer(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), **model_kwargs)
    model.eval()
    if (model_dir / QUANTIZATION_FILE).is_file():
        model = quantize_model(model)
    names = label_map(model_dir / "config.json", model.config.id2label)
    return RunModel(
        run, model_dir, model, tokenizer, names, run_max_length(run, model_dir, tokenizer)
    )


def run_max_length(run: Path, model_dir: Path, tokenizer: Any) -> int:
    """The max length the model was trained with (its run config), else the tokenizer's (<= 512)."""
    if run_config_path(run, model_dir) is not None:
        return run_config(run, model_dir).model.max_length
    return min(int(getattr(tokenizer, "model_max_length", 512)), 512)


def load_test_split(rm: RunModel, max_examples: int | None = None) -> EncodedSplit:
    """The run's test split, re-created from its config.yaml with the same seed, encoded."""
    cfg = run_config(rm.run_dir, rm.model_dir)
    data = run_split(cfg, "test")
    if len(data) == 0:
        path = run_config_path(rm.run_dir, rm.model_dir)
        raise ConfigError(f"{path}: the run has no test split (data.test_fraction=0)")
    if max_examples and max_examples < len(data):
        # A seeded sample, not the first rows: the split may be ordered by label.
        data = data.shuffle(seed=cfg.seed).select(range(max_examples))
    labels = encode_labels(data["label"], rm.label_names, "test split")
    return encode_split(rm.tokenizer, data["text"], max_length=rm.max_length, labels=labels)


def onnx_logits(path: Path, threads: int | None = None) -> Callable[[dict], torch.Tensor]:
    """An `inputs -> logits` function running an exported model (`pretune export`) with
    onnxruntime; an absent attention mask (a batch without padding) is all ones."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail, ...)
        raise damaged_file_error(path, exc) from exc

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
        model_dir = find_model_dir(run)
        if (model_dir / ONNX_FILE).is_file():
            return cls._load_onnx(run, model_dir)
        loaded = load_run_model(run)  # int8 again for a `pretune quantize` folder
        if first_token_only:
            first_token_inference(loaded.model)
        return cls(loaded.model, loaded.tokenizer, loaded.max_length, loaded.label_names)

    @classmethod
    def _load_onnx(cls, run: Path, model_dir: Path) -> Predictor:
        from transformers import AutoConfig

        with named_damage(model_dir):
            tokenizer = load_tokenizer(model_dir)
            config = AutoConfig.from_pretrained(str(model_dir))
        names = label_map(model_dir / "config.json", config.id2label)
        logits_of = onnx_logits(model_dir / ONNX_FILE)
        return cls(logits_of, tokenizer, run_max_length(run, model_dir, tokenizer), names)

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


def average_probabilities(
    member_probs: list[np.ndarray], member_names: list[list[str]], names: list[str]
) -> np.ndarray:
    """Mean of the members' (N, K) probabilities after putting their columns in `names` order."""
    aligned = [
        probs[:, [own.index(name) for name in names]]
        for probs, own in zip(member_probs, member_names, strict=True)
    ]
    return np.mean(aligned, axis=0)


def member_probabilities(
    runs: list[Path], texts: list[str], batch_size: int
) -> tuple[list[np.ndarray], list[list[str]]]:
    """Each run's (N, K) probabilities on `texts` and its own label order."""
    probs, names = [], []
    for run in runs:
        own, p = predict_texts(run, texts, batch_size)
        names.append(own)
        probs.append(p)
    return probs, names


def predict_ensemble(
    folder: Path, texts: list[str], batch_size: int = 64
) -> tuple[list[str], np.ndarray]:
    """(label names, averaged probabilities (N, K)) of a saved ensemble on `texts`."""
    record = read_ensemble(folder)
    runs = [Path(run) for run in record["members"]]
    missing = [str(run) for run in runs if not run.is_dir()]
    if missing:
        raise CheckpointError(f"{folder}: ensemble member(s) not found: {', '.join(missing)}")
    probs, names = member_probabilities(runs, texts, batch_size)
    return record["labels"], average_probabilities(probs, names, record["labels"])


def read_ensemble(folder: Path) -> dict[str, Any]:
    """An ensemble folder's record: its member runs and label order."""
    path = folder / ENSEMBLE_FILE
    again = f"write it again with `pretune ensemble RUN RUN ... --output {folder}`"
    record = read_json_file(path, again)
    if not isinstance(record.get("members"), list) or not isinstance(record.get("labels"), list):
        raise damaged_file_error(path, "no members and labels lists", again)
    return record


def predict_texts(
    run: Path, texts: list[str], batch_size: int = 64
) -> tuple[list[str], np.ndarray]:
    """(label names, probabilities (N, K)) of a run's model on `texts`, in input order.

    `run` may also be an ensemble folder (`pretune ensemble`): its members' mean probabilities.
    """
    if (run / ENSEMBLE_FILE).is_file():
        return predict_ensemble(run, texts, batch_size)
    predictor = Predictor.load(run)
    return predictor.label_names, predictor.probabilities(texts, batch_size)
