"""Model size presets for pre-training from scratch, and loading LM checkpoints to continue.

Sizes follow Turc et al. 2019 ("Well-read students learn better"), the BERT-tiny/mini/small
family; the same shapes are used for GPT-2 style causal models.

    preset  layers  hidden  heads  feed-forward
    nano         2      64      2           256   (not in Turc et al.: for tests and quick checks)
    tiny         2     128      2           512
    mini         4     256      4          1024
    small        4     512      8          2048
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pretune.errors import ConfigError
from pretune.registry import Registry

__all__ = ["PRESETS", "build_lm", "lm_auto_class", "load_lm"]

PRESETS: Registry[dict[str, int]] = Registry("model preset")


# name: (layers, hidden, heads, parameters with an 8000 vocabulary); feed-forward = 4 * hidden.
_SIZES = {
    "nano": (2, 64, 2, "0.6M"),
    "tiny": (2, 128, 2, "1.5M"),
    "mini": (4, 256, 4, "5.3M"),
    "small": (4, 512, 8, "17M"),
}


def _preset(layers: int, hidden: int, heads: int) -> Callable[[], dict[str, int]]:
    return lambda: {"layers": layers, "hidden": hidden, "heads": heads, "ffn": 4 * hidden}


for _name, (_layers, _hidden, _heads, _params) in _SIZES.items():
    PRESETS.register(
        _name,
        f"{_layers} layers, {_hidden} hidden, {_heads} heads "
        f"({_params} parameters with an 8000 vocabulary)",
    )(_preset(_layers, _hidden, _heads))


# What each language-model architecture calls a preset's sizes (and the context length).
_SIZE_KEYS = {
    "mlm": ("BertConfig", {"hidden": "hidden_size", "layers": "num_hidden_layers",
                           "heads": "num_attention_heads", "ffn": "intermediate_size",
                           "positions": "max_position_embeddings"}),
    "clm": ("GPT2Config", {"hidden": "n_embd", "layers": "n_layer", "heads": "n_head",
                           "ffn": "n_inner", "positions": "n_positions"}),
}  # fmt: skip


def lm_config(preset: str, objective: str, tokenizer: Any, max_length: int) -> Any:
    """A BertConfig (mlm) or GPT2Config (clm) of `preset`'s size for `tokenizer`'s vocabulary."""
    import transformers

    size = {**PRESETS.create(preset), "positions": max_length}
    class_name, keys = _SIZE_KEYS["mlm" if objective == "mlm" else "clm"]
    settings = {key: size[ours] for ours, key in keys.items()}
    if objective != "mlm":  # GPT-2 starts and ends a text with one token: EOS (else SEP)
        eos = tokenizer.eos_token_id
        settings["bos_token_id"] = settings["eos_token_id"] = (
            eos if eos is not None else tokenizer.sep_token_id
        )
    config_class = getattr(transformers, class_name)
    return config_class(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **settings)


def lm_auto_class(objective: str) -> Any:
    """AutoModelForMaskedLM (mlm) or AutoModelForCausalLM (clm)."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    return AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM


def build_lm(preset: str, objective: str, tokenizer: Any, max_length: int) -> Any:
    """A randomly initialised masked (BERT) or causal (GPT-2) LM of size `preset`."""
    config = lm_config(preset, objective, tokenizer, max_length)
    return lm_auto_class(objective).from_config(config, attn_implementation="sdpa")


def load_lm(path: Path, objective: str, tokenizer: Any, max_length: int, log: Any = None) -> Any:
    """A checkpoint loaded as a masked/causal LM to continue pre-training it.

    Raises:
        ConfigError: the architecture has no masked/causal LM form, the tokenizer's vocabulary
            does not fit the model's embeddings, or max_length exceeds its positions.
    """
    from transformers import AutoConfig

    from pretune.models.load import _quiet_transformers

    _quiet_transformers()
    config = AutoConfig.from_pretrained(str(path))
    kind = "masked" if objective == "mlm" else "causal"
    vocab = getattr(config, "vocab_size", None)
    if vocab is not None and len(tokenizer) > vocab:
        raise ConfigError(
            f"vocabulary mismatch: the tokenizer has {len(tokenizer)} tokens but the model at "
            f"{path} has {vocab} embeddings; continue with the checkpoint's own tokenizer "
            "(leave pretrain.tokenizer unset) or pre-train from a preset"
        )
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if limit is not None and max_length > limit:
        raise ConfigError(
            f"model.max_length={max_length} exceeds the model's {limit} positions ({path}); "
            f"set model.max_length={limit} or less"
        )
    try:
        model, info = lm_auto_class(objective).from_pretrained(
            str(path), attn_implementation="sdpa", output_loading_info=True
        )
    except (ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ConfigError(
            f"model.init_from={path}: a {config.model_type} checkpoint cannot be loaded as a "
            f"{kind} language model ({first}); use objective="
            f"{'clm' if objective == 'mlm' else 'mlm'} or another checkpoint"
        ) from None
    missing = info.get("missing_keys") or []
    if missing and log is not None:
        # e.g. a sentence-embedding checkpoint (MiniLM) has an encoder but no LM head.
        log(
            f"note: {path} has no trained {kind}-LM head ({len(missing)} tensors such as "
            f"{sorted(missing)[0]} are newly initialised); the first steps train it"
        )
    return model
