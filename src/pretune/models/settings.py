"""The `model:` settings every recipe applies the same way to the model it built."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pretune.errors import ConfigError
from pretune.models.damage import named_damage
from pretune.models.init import init_model
from pretune.models.load import dropout_overrides, load_classifier, quiet_transformers

__all__ = ["apply_model_settings", "build_classifier", "load_head_model"]


def apply_model_settings(model: torch.nn.Module, settings: Any) -> torch.nn.Module:
    """Re-initialise the new head (`model.init`, when the section has it), keep the word
    embeddings fixed (`freeze_embeddings`) and recompute activations in backward
    (`gradient_checkpointing`), as `settings` (a `model:` section) asks."""
    init = getattr(settings, "init", "none")
    if init != "none":
        init_model(model, init)  # the new head only
    if getattr(settings, "freeze_embeddings", False):
        model.get_input_embeddings().weight.requires_grad_(False)
    if getattr(settings, "gradient_checkpointing", False):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


@quiet_transformers()
def load_head_model(auto_class: Any, path: Path, m: Any, labels: list[str] | None) -> Any:
    """`auto_class.from_pretrained(path)` with a new head (token labels named by `labels`),
    the config's dropouts, init and embedding freezing applied."""
    from transformers import AutoConfig

    with named_damage(path):  # a damaged checkpoint file is named (models/damage.py)
        config = AutoConfig.from_pretrained(str(path))
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and m.max_length > limit:
        raise ConfigError(
            f"model.max_length={m.max_length} exceeds the model's {limit} positions ({path})"
        )
    overrides: dict[str, Any] = {}
    if labels is not None:
        overrides = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)},
        }
    if m.classifier_dropout is not None:
        overrides["classifier_dropout"] = m.classifier_dropout
    overrides.update(dropout_overrides(config, m.hidden_dropout, m.attention_dropout, path))
    same = labels is not None and list(getattr(config, "id2label", {}).values()) == labels
    with named_damage(path):
        try:
            model = auto_class.from_pretrained(
                str(path), **overrides, ignore_mismatched_sizes=not same
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"cannot build a {auto_class.__name__} from {path}: {exc}") from None
    return apply_model_settings(model, m)


def build_classifier(m: Any, model_path: Path, label_names: Sequence[str]) -> Any:
    """The sequence classifier of `model_path` with a new head for `label_names`, with the
    `model:` section's dropouts, head init, embedding freezing and gradient checkpointing."""
    model = load_classifier(
        model_path,
        list(label_names),
        max_length=m.max_length,
        classifier_dropout=m.classifier_dropout,
        hidden_dropout=m.hidden_dropout,
        attention_dropout=m.attention_dropout,
    )
    return apply_model_settings(model, m)
