"""Recipe: supervised fine-tuning (SFT) of a causal LM on prompt/response pairs.

    pairs.jsonl -> conversations -> chat template -> (input_ids, labels: -100 on prompts)
    -> model (a clm run / checkpoint) -> SFTTask (causal-LM loss on replies) -> fit -> model/

Callable from Python (`run_sft(config)`) and from the CLI (`pretune sft`). The run folder is a
normal one (config.yaml, metrics.jsonl, model/ with the tokenizer and its chat template,
summary.json, report.html); `pretune generate <run> "prompt"` answers with the template.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.catalog.sft import check_sft_config
from pretune.data.encode import TrainBatches
from pretune.data.readers import read_json_rows
from pretune.errors import ConfigError, DataError
from pretune.evaluate.lm import evaluate_lm
from pretune.models.load import load_tokenizer, quiet_transformers, resolve_model_path
from pretune.models.settings import apply_model_settings
from pretune.recipes._runner import recipe
from pretune.tasks.sft import SFTData, SFTTask, encode_conversation, ensure_chat_template
from pretune.train.session import Session

__all__ = ["load_causal_lm", "read_conversations", "run_sft"]

_ROLES = ("system", "user", "assistant")


# ---------------------------------------------------------------------------------------------
# Data


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: '{field}' must be a string, found {type(value).__name__}")
    return value


def _messages(value: Any, where: str, field: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: '{field}' must be a non-empty list of {{role, content}}")
    messages = []
    for item in value:
        if not isinstance(item, dict) or "role" not in item or "content" not in item:
            raise DataError(f"{where}: each item of '{field}' needs 'role' and 'content'")
        if item["role"] not in _ROLES:
            raise DataError(
                f"{where}: unknown role {item['role']!r} in '{field}'; roles: {', '.join(_ROLES)}"
            )
        messages.append({"role": item["role"], "content": _text(item["content"], where, field)})
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where}: '{field}' has no assistant message to train on")
    if any(m["role"] == "assistant" and not m["content"].strip() for m in messages):
        raise DataError(f"{where}: an assistant message is empty; every response needs text")
    return messages


def read_conversations(
    path: Path, sft: Any, encoding_errors: str = "strict"
) -> list[list[dict[str, str]]]:
    """Conversations from a JSONL/JSON file of pairs or message lists.

    Each row holds either `sft.prompt_field` and `sft.response_field` (strings; the response
    non-empty) or `sft.messages_field` (a list of {role, content} with at least one assistant
    message). `sft.system`, when set, is put first in every pair.

    Raises:
        DataError: a missing file, a row with neither format, a non-string or empty response.
    """
    if not path.is_file():
        raise DataError(f"data.source={path}: no such file; give a JSONL file of pairs")
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise DataError(
            f"data.source={path}: SFT reads JSONL (.jsonl, or a .json array) of "
            f'{{"{sft.prompt_field}": ..., "{sft.response_field}": ...}} objects'
        )
    _, rows = read_json_rows(path, encoding_errors)
    conversations = []
    for number, row in enumerate(rows, start=1):
        where = f"{path}, row {number}"
        if sft.messages_field in row:
            conversations.append(_messages(row[sft.messages_field], where, sft.messages_field))
            continue
        missing = [f for f in (sft.prompt_field, sft.response_field) if f not in row]
        if missing:
            raise DataError(
                f"{where}: no '{sft.messages_field}' list and no "
                f"{' / '.join(repr(f) for f in missing)} field (found: {', '.join(row) or 'none'});"
                f" each row needs '{sft.prompt_field}' and '{sft.response_field}' (or set "
                "sft.prompt_field / sft.response_field to your field names)"
            )
        prompt = _text(row[sft.prompt_field], where, sft.prompt_field)
        response = _text(row[sft.response_field], where, sft.response_field)
        if not response.strip():
            raise DataError(f"{where}: '{sft.response_field}' is empty; every response needs text")
        messages = [{"role": "system", "content": sft.system}] if sft.system else []
        messages += [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": response},
        ]
        conversations.append(messages)
    return conversations


def encode_all(
    tokenizer: Any, conversations: Sequence[Sequence[dict[str, str]]], max_length: int
) -> tuple[list[tuple[list[int], list[int]]], int]:
    """Encoded rows, and how many conversations were dropped (no reply token within max_length)."""
    rows, dropped = [], 0
    for messages in conversations:
        encoded = encode_conversation(tokenizer, messages, max_length)
        if encoded is None:
            dropped += 1
        else:
            rows.append(encoded)
    return rows, dropped


# ---------------------------------------------------------------------------------------------
# Model


@quiet_transformers()
def load_causal_lm(init_from: str, field: str = "model.init_from") -> tuple[Any, Any, Path]:
    """(model, tokenizer, folder) of a causal LM: a clm/SFT/RL run or a checkpoint folder.

    Raises:
        ConfigError: the folder does not exist or holds a model that is not a causal LM.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        path = resolve_model_path(init_from)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("model.init_from", field, 1)) from None
    config = AutoConfig.from_pretrained(str(path))
    arch = (config.architectures or ["?"])[0]
    if config.architectures and not any(
        "CausalLM" in a or "LMHead" in a for a in config.architectures
    ):
        raise ConfigError(
            f"{field}={init_from} holds a {arch}, not a causal LM; give a run of "
            "`pretune pretrain objective=clm` (or an SFT/RL run)"
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation="sdpa")
    except (ValueError, KeyError):
        raise ConfigError(
            f"{field}={init_from} holds a {config.model_type} model that cannot be loaded as a "
            "causal LM; give a run of `pretune pretrain objective=clm`"
        ) from None
    tokenizer = load_tokenizer(path)
    if tokenizer.pad_token_id is None:  # padding id only: padded positions never get a loss
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, path


# ---------------------------------------------------------------------------------------------
# The run


def _split(items: list, fraction: float, seed: int) -> tuple[list, list]:
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_val = round(fraction * len(items)) if len(items) > 1 else 0
    val = [items[i] for i in sorted(order[:n_val])]
    return [items[i] for i in sorted(order[n_val:])], val


def _conversation_splits(cfg: Any) -> tuple[list, list]:
    """Training and validation conversations (a separate validation file, or a share)."""
    conversations = read_conversations(Path(cfg.data.source), cfg.sft, cfg.data.encoding_errors)
    if cfg.data.validation_file:
        path = Path(cfg.data.validation_file)
        train, val = conversations, read_conversations(path, cfg.sft, cfg.data.encoding_errors)
    else:
        train, val = _split(conversations, cfg.data.val_fraction, cfg.seed)
    if cfg.data.max_train_examples:
        train = train[: cfg.data.max_train_examples]
    return train, val


def _check_length(model: Any, max_length: int) -> None:
    limit = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None
    )
    if limit is not None and max_length > limit:
        raise ConfigError(
            f"model.max_length={max_length} exceeds the model's {limit} positions; set "
            f"model.max_length={limit} or less"
        )


@recipe("sft")
def run_sft(cfg: Any, session: Session) -> dict[str, Any]:
    """Fine-tune a causal LM on conversations; saves `model/`; returns the summary."""
    check_sft_config(cfg)
    model, tokenizer, _ = load_causal_lm(cfg.model.init_from or "")
    train_conv, val_conv = _conversation_splits(cfg)
    template = ensure_chat_template(tokenizer, cfg.sft.chat_template)
    m = cfg.model
    _check_length(model, m.max_length)
    train_rows, dropped = encode_all(tokenizer, train_conv, m.max_length)
    val_rows, val_dropped = encode_all(tokenizer, val_conv, m.max_length)
    if not train_rows:
        raise DataError(
            f"no training conversation keeps a response token within model.max_length="
            f"{m.max_length}; raise it"
        )
    pad, t = tokenizer.pad_token_id, cfg.train
    train_data = TrainBatches(SFTData(train_rows, pad), t.batch_size, cfg.seed, t.group_by_length)
    response_tokens = sum(sum(1 for x in lab[1:] if x != -100) for _, lab in train_rows)
    skipped = dropped + val_dropped
    session.log(
        f"sft: {len(train_rows)} training / {len(val_rows)} validation conversations "
        f"({template} chat template), {response_tokens} response tokens to train on"
        + (f"; {skipped} dropped (no response within max_length)" if skipped else "")
    )
    evaluate = None
    if val_rows:
        val_data = SFTData(val_rows, pad)

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            return evaluate_lm(task, val_data, cfg.eval.batch_size, device)

    trained = session.train(apply_model_settings(model, m), SFTTask, train_data, evaluate=evaluate)
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    return {
        "task": "sft",
        "data": {
            "conversations": {"train": len(train_rows), "validation": len(val_rows)},
            "dropped_too_long": skipped,
            "response_tokens": response_tokens,
        },
        "chat_template": template,
        "parameters": sum(p.numel() for p in trained.model.parameters()),
    }
