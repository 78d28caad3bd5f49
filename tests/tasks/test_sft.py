"""SFT data: prompt tokens (and padding) carry no loss, reply tokens carry exactly theirs."""

from __future__ import annotations

import pytest
import torch

from pretune.data.masking import IGNORE_INDEX
from pretune.errors import DataError
from pretune.tasks.sft import (
    DEFAULT_CHAT_TEMPLATE,
    SFTTask,
    encode_conversation,
    ensure_chat_template,
    pad_right,
    render_chat,
)
from tiny_causal_lm import make_tokenizer


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture
def tokenizer():
    tok = make_tokenizer()
    assert ensure_chat_template(tok) == "default"
    return tok


def test_pair_labels_mask_the_prompt_exactly(tokenizer):
    messages = [
        {"role": "user", "content": "what is the colour of the sky?"},
        {"role": "assistant", "content": "blue"},
    ]
    input_ids, labels = encode_conversation(tokenizer, messages, max_length=64)
    prompt = ids(tokenizer, "User: what is the colour of the sky?\nAssistant:")
    reply = [*ids(tokenizer, " blue"), tokenizer.eos_token_id]
    assert input_ids == prompt + reply
    assert labels == [IGNORE_INDEX] * len(prompt) + reply


def test_multi_turn_trains_on_every_reply_and_nothing_else(tokenizer):
    messages = [
        {"role": "system", "content": "the match"},
        {"role": "user", "content": "what is red?"},
        {"role": "assistant", "content": "ball"},
        {"role": "user", "content": "what is green?"},
        {"role": "assistant", "content": "grass"},
    ]
    input_ids, labels = encode_conversation(tokenizer, messages, max_length=64)
    text = render_chat(tokenizer, messages, generation_prompt=False)
    assert input_ids == ids(tokenizer, text)  # segment-wise encoding = encoding the whole
    trained = [tokenizer.decode([t]) for t, lab in zip(input_ids, labels, strict=True) if lab >= 0]
    assert trained == ["ball", "</s>", "grass", "</s>"]
    assert all(lab in (IGNORE_INDEX, t) for t, lab in zip(input_ids, labels, strict=True))


def test_rows_cut_to_max_length_and_dropped_without_a_reply_token(tokenizer):
    messages = [
        {"role": "user", "content": "what is red?"},
        {"role": "assistant", "content": "ball"},
    ]
    full, _ = encode_conversation(tokenizer, messages, max_length=64)
    assert encode_conversation(tokenizer, messages, max_length=len(full) - 2) is None
    cut, labels = encode_conversation(tokenizer, messages, max_length=len(full) - 1)
    assert cut == full[:-1] and labels[-1] == cut[-1]  # the reply kept, its EOS cut off
    with pytest.raises(DataError, match="assistant"):
        encode_conversation(tokenizer, messages[:1], max_length=64)


def test_padding_carries_no_loss_and_a_tokenizer_template_is_kept():
    batch = pad_right([([5, 6, 7], [-100, 6, 7]), ([5], [5])], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [5, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    own = make_tokenizer()
    own.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert ensure_chat_template(own, "auto") == "tokenizer"
    assert ensure_chat_template(own, "default") == "default"
    assert own.chat_template == DEFAULT_CHAT_TEMPLATE


def test_sft_loss_equals_cross_entropy_on_reply_tokens_only(tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, eos_token_id=2)
    model = GPT2LMHeadModel(config)
    model.eval()  # no dropout: the two forward passes must agree
    pairs = (("what is red?", "ball"), ("what is the colour of the sky?", "blue sky"))
    rows = [
        encode_conversation(tokenizer, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], 64)  # noqa: E501
        for q, a in pairs
    ]  # fmt: skip
    batch = pad_right(rows, tokenizer.pad_token_id)
    loss = SFTTask(model)(batch)["loss"]
    logits = model(batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1)
    )  # ignore_index -100: prompt and padding drop out
    assert torch.allclose(loss, expected, atol=1e-5)
