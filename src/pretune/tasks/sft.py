"""Supervised fine-tuning (SFT) of a causal LM on conversations: loss on the responses only.

A conversation is a list of `{"role", "content"}` messages (a prompt/response pair is
`[user: prompt, assistant: response]`). It is rendered with a chat template (the tokenizer's
own, or `DEFAULT_CHAT_TEMPLATE`) and encoded segment by segment: the text up to each
assistant turn (rendered with the generation prompt, exactly what `pretune generate` feeds the
model) gets label -100, the assistant's reply (ending with the EOS token) is trained on.

    User: <prompt>\\nAssistant: <response></s>          (default template)
    <------ label -100 ----------><- trained -->

The loss is the causal-LM loss (`CLMTask`): labels hold the token ids where a loss is due and
-100 elsewhere (prompt, padding), position t predicts token t + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pretune.data.masking import IGNORE_INDEX
from pretune.errors import DataError
from pretune.tasks.clm import CLMTask

__all__ = [
    "DEFAULT_CHAT_TEMPLATE",
    "SFTData",
    "SFTTask",
    "encode_conversation",
    "ensure_chat_template",
    "pad_right",
    "render_chat",
]

# A plain-text template that any tokenizer can encode (no new special tokens, so no new
# embeddings): a system message as a first line, "User: ...\n" per user turn and
# "Assistant: ...<eos>" per assistant turn; the generation prompt is "Assistant:". Each
# rendering of a conversation prefix is a string prefix of the next one, which is what
# segment-wise encoding needs.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}"
    "{% elif message['role'] == 'system' %}"
    "{{ message['content'] + '\n' }}"
    "{% else %}"
    "{{ 'User: ' + message['content'] + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any, mode: str = "auto") -> str:
    """Give `tokenizer` a chat template; returns where it came from ("tokenizer" or "default").

    `auto` keeps the tokenizer's own template when it has one; `default` always sets
    `DEFAULT_CHAT_TEMPLATE`. The template is saved with the tokenizer (`save_pretrained`), so
    `pretune generate` formats prompts the same way the model was trained.
    """
    if mode == "auto" and getattr(tokenizer, "chat_template", None):
        return "tokenizer"
    if tokenizer.eos_token is None:
        raise DataError("the tokenizer has no EOS token to end responses with; use another one")
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return "default"


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]], generation_prompt: bool) -> str:
    """The conversation as text, with the assistant's generation prompt appended on request."""
    return tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=generation_prompt
    )


def _encode(tokenizer: Any, text: str) -> list[int]:
    # Special tokens come from the template itself (e.g. the EOS after a reply), never added.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_conversation(
    tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int
) -> tuple[list[int], list[int]] | None:
    """(input_ids, labels) of one conversation; labels are -100 except on assistant replies.

    Rows longer than `max_length` are cut at the end; None when no reply token is left.

    Raises:
        DataError: no assistant message, or a template whose renderings are not prefixes of
            each other (the prompt/response boundary cannot be found).
    """
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not replies:
        raise DataError("a conversation has no assistant message to train on")
    for i in replies:
        prompt = render_chat(tokenizer, messages[:i], generation_prompt=True)
        full = render_chat(tokenizer, messages[: i + 1], generation_prompt=False)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            raise DataError(
                "the chat template renders a conversation prefix that is not a prefix of the "
                "whole conversation, so prompt and response cannot be told apart; use "
                "sft.chat_template=default"
            )
        prompt_ids = _encode(tokenizer, prompt[len(done) :])
        reply_ids = _encode(tokenizer, full[len(prompt) :])
        ids += prompt_ids + reply_ids
        labels += [IGNORE_INDEX] * len(prompt_ids) + reply_ids
        done = full
    ids, labels = ids[:max_length], labels[:max_length]
    # Position 0 never carries a loss (nothing predicts it), so a reply must start after it.
    if all(label == IGNORE_INDEX for label in labels[1:]):
        return None
    return ids, labels


def pad_right(
    rows: Sequence[tuple[Sequence[int], Sequence[int]]], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask and labels (B, T), padded on the right (labels with -100)."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, lab) in enumerate(rows):
        input_ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        labels[r, : len(lab)] = torch.tensor(lab, dtype=torch.long)
        mask[r, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


@dataclass
class SFTData:
    """Encoded conversations (input ids, labels) padded on load; the loop walks them through
    `pretune.data.encode.TrainBatches`."""

    rows: list[tuple[list[int], list[int]]]
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids, _ in self.rows]

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        return pad_right([self.rows[i] for i in indices], self.pad_token_id)


class SFTTask(CLMTask):
    """The causal-LM loss on rows whose labels are -100 outside the assistant replies."""
