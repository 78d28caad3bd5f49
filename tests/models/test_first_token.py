"""The last layer computed at the first token only gives the classifier the same logits as
the full forward, on padded and unpadded batches, fp32 and int8; other models are untouched."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from pretune.models.first_token import FirstTokenLayer, first_token_inference
from pretune.runs import Predictor, quantize_model

SIZES = dict(
    vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=64, max_position_embeddings=40, num_labels=3,
)  # fmt: skip


def _batch(pad_id: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (4, 12), generator=generator)
    mask = torch.ones_like(ids)
    for row, length in enumerate([12, 7, 3, 10]):  # padded rows, one full
        ids[row, length:], mask[row, length:] = pad_id, 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize(
    "model_class, config",
    [
        (BertForSequenceClassification, BertConfig(**SIZES)),
        (RobertaForSequenceClassification, RobertaConfig(**SIZES, pad_token_id=1)),
    ],
    ids=["bert", "roberta"],
)
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_same_logits_as_the_full_forward(model_class, config, implementation) -> None:
    torch.manual_seed(0)
    config._attn_implementation = implementation
    full = model_class(config).eval()
    fast = copy.deepcopy(full)
    assert first_token_inference(fast)
    assert isinstance(fast.base_model.encoder.layer[-1], FirstTokenLayer)
    batch = _batch(config.pad_token_id)
    with torch.inference_mode():
        for inputs in (batch, {"input_ids": batch["input_ids"]}):  # masked, and no mask
            expected, got = full(**inputs).logits, fast(**inputs).logits
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            assert not torch.equal(expected[0], expected[1])  # the rows really differ
    assert first_token_inference(fast)  # applying twice is harmless
    assert isinstance(fast.base_model.encoder.layer[-1].layer, torch.nn.Module)
    assert not isinstance(fast.base_model.encoder.layer[-1].layer, FirstTokenLayer)


def test_int8_model_keeps_its_logits() -> None:
    torch.manual_seed(0)
    int8 = quantize_model(BertForSequenceClassification(BertConfig(**SIZES)).eval())
    fast = copy.deepcopy(int8)
    assert first_token_inference(fast)
    batch = _batch(0)
    with torch.inference_mode():
        torch.testing.assert_close(fast(**batch).logits, int8(**batch).logits)


def test_models_reading_more_than_the_first_token_are_left_alone() -> None:
    distil = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=64)
    )
    assert not first_token_inference(distil)
    decoder = BertForSequenceClassification(BertConfig(**SIZES, is_decoder=True))
    assert not first_token_inference(decoder)
    assert not any(isinstance(m, FirstTokenLayer) for m in decoder.modules())


def test_predictor_gives_the_same_probabilities_either_way(tiny_bert: Path, tmp_path) -> None:
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=3)
    model.save_pretrained(tmp_path / "model")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (tiny_bert / name).exists():
            (tmp_path / "model" / name).write_bytes((tiny_bert / name).read_bytes())
    texts = ["the market rose", "goal", "the film won an award at the festival last night"] * 3
    fast = Predictor.load(tmp_path, first_token_only=True)
    full = Predictor.load(tmp_path, first_token_only=False)
    assert any(isinstance(m, FirstTokenLayer) for m in fast.model.modules())
    assert not any(isinstance(m, FirstTokenLayer) for m in full.model.modules())
    got, expected = fast.probabilities(texts, 4), full.probabilities(texts, 4)
    assert got.shape == (9, 3)
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected))
