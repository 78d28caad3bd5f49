"""Inference batches drop an all-ones attention mask (the unmasked fast path) without changing
the outputs, and keep it where rows are padded."""

from __future__ import annotations

from pathlib import Path

import torch

from pretune.data.encode import encode_split
from pretune.evaluate.evaluator import predict_probabilities
from pretune.models.load import load_classifier, load_tokenizer


def test_probabilities_equal_a_masked_forward_in_input_order(tiny_bert: Path) -> None:
    tokenizer = load_tokenizer(tiny_bert)
    torch.manual_seed(0)
    model = load_classifier(tiny_bert, ["a", "b", "c"], max_length=8).eval()
    # Long texts are all cut to 8 tokens (no padding: mask dropped); short ones are padded.
    texts = ["the market rose sharply today as shares in banks climbed"] * 3 + [
        "goal", "the film won", "vote today", "the team and the coach won the match again",
    ]  # fmt: skip
    split = encode_split(tokenizer, texts, max_length=8)
    got = torch.zeros(len(texts), 3)
    for indices, probs in predict_probabilities(model, split, 3, torch.device("cpu")):
        got[indices] = probs
    batch = tokenizer(texts, truncation=True, max_length=8, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(model(**batch).logits, -1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
