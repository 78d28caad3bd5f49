"""Sample text from a causal-LM run (clm pre-training, sft or rl): load the model, encode the
prompt (as a chat turn when the tokenizer has a template), decode greedily or by sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pretune.errors import ConfigError
from pretune.models.load import load_tokenizer, quiet_transformers, resolve_model_path
from pretune.process_state import leaves_process_as_found
from pretune.tasks.sft import render_chat

__all__ = ["encode_prompt", "generate_text", "load_causal_lm"]


def load_causal_lm(run: str | Path) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) of a run or checkpoint folder holding a causal LM.

    Raises:
        ConfigError: the folder holds another kind of model (e.g. a masked LM).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    path = resolve_model_path(str(run))
    tokenizer = load_tokenizer(path)
    config = AutoConfig.from_pretrained(str(path))
    try:
        with quiet_transformers():  # no "Loading weights" bar
            model = AutoModelForCausalLM.from_pretrained(str(path))
    except ValueError:
        raise ConfigError(
            f"{run} holds a {config.model_type} model that is not a causal LM; generate needs a "
            "run of `pretune pretrain objective=clm`"
        ) from None
    # Some architectures load under AutoModelForCausalLM without an LM head: refuse them too.
    if config.architectures and not any(
        "CausalLM" in a or "LMHead" in a for a in config.architectures
    ):
        raise ConfigError(
            f"{run} holds a {config.architectures[0]}, not a causal LM; generate needs a run of "
            "`pretune pretrain objective=clm` (or sft / rl)"
        )
    return model.eval(), tokenizer


def encode_prompt(tokenizer: Any, prompt: str, chat: bool) -> torch.Tensor:
    """Token ids (1, T) of `prompt`, as a user turn of the chat template when `chat`."""
    text = render_chat(tokenizer, [{"role": "user", "content": prompt}], True) if chat else prompt
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    if ids.shape[1] == 0:  # an empty prompt starts from the document separator
        start = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        ids = torch.tensor([[start]])
    return ids


def _use_chat(tokenizer: Any, chat: bool | None, run: str | Path) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat and not has_template:
        raise ConfigError(f"{run} has no chat template; drop chat=1 (or fine-tune it with sft)")
    return has_template if chat is None else chat


@leaves_process_as_found()
def generate_text(
    run: str | Path,
    prompt: str,
    *,
    max_new_tokens: int = 50,
    temperature: float = 1.0,
    top_k: int = 50,
    top_p: float = 1.0,
    seed: int = 0,
    chat: bool | None = None,
) -> str:
    """Continue `prompt` with the causal LM of `run` (a run folder or a checkpoint folder).

    `temperature=0` decodes greedily; otherwise tokens are sampled from the top-k / top-p
    (nucleus) filtered distribution, reproducibly for a given `seed`.

    `chat` formats the prompt as a user message with the tokenizer's chat template (set by
    `pretune sft`) and returns only the reply; None: when the tokenizer has a template.

    Raises:
        ConfigError: the model is not a causal LM (e.g. a masked-LM run) or a bad setting.
    """
    if max_new_tokens < 1 or temperature < 0 or top_k < 0 or not 0 < top_p <= 1:
        raise ConfigError("need max_new_tokens >= 1, temperature >= 0, top_k >= 0, 0 < top_p <= 1")
    model, tokenizer = load_causal_lm(run)
    chat = _use_chat(tokenizer, chat, run)
    ids = encode_prompt(tokenizer, prompt, chat)
    torch.manual_seed(seed)
    sample = temperature > 0
    options = {"temperature": temperature, "top_k": top_k, "top_p": top_p} if sample else {}
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=sample,
            pad_token_id=tokenizer.pad_token_id,
            **options,
        )
    reply = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    return reply.strip() if chat else prompt + reply
