"""The LM tasks compute only the positions that carry a loss, and must give exactly the loss
Hugging Face computes over the full logits."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from pretune.data.masking import IGNORE_INDEX
from pretune.tasks.clm import CLMTask
from pretune.tasks.mlm import LMMetrics, MLMTask, lm_head_parts


@pytest.fixture
def bert() -> BertForMaskedLM:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    return BertForMaskedLM(config).eval()


@pytest.fixture
def gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(
        GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=16)
    ).eval()


def _batch(padded: bool) -> dict[str, torch.Tensor]:
    ids = torch.randint(5, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    if padded:
        mask[1, 8:] = 0
        ids[1, 8:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("padded", [False, True])
def test_mlm_loss_matches_full_logits(bert, padded):
    batch = _batch(padded)
    labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
    labels[0, 2], labels[1, 5], labels[2, 11] = 7, 9, 11
    batch["labels"] = labels
    assert lm_head_parts(bert) is not None  # the fast path is taken
    out = MLMTask(bert)(batch)
    expected = bert(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
    )
    assert out["logits"].shape == (3, 50)  # only the 3 masked positions
    torch.testing.assert_close(out["loss"], expected.loss, rtol=1e-5, atol=1e-5)
    assert int(out["n_tokens"]) == 3


@pytest.mark.parametrize("padded", [False, True])
def test_clm_loss_matches_hf_shifted_loss(gpt2, padded):
    batch = _batch(padded)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
    batch["labels"] = labels
    out = CLMTask(gpt2)(batch)
    expected = gpt2(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
    )
    torch.testing.assert_close(out["loss"], expected.loss, rtol=1e-5, atol=1e-5)
    assert int(out["n_tokens"]) == int((labels[:, 1:] != IGNORE_INDEX).sum())


def test_lm_metrics_weight_batches_by_tokens():
    metrics = LMMetrics()
    metrics.update(
        {"loss": torch.tensor(1.0), "n_tokens": torch.tensor(1), "n_correct": torch.tensor(1)}
    )
    metrics.update(
        {"loss": torch.tensor(4.0), "n_tokens": torch.tensor(3), "n_correct": torch.tensor(0)}
    )
    result = metrics.compute()
    assert result["loss"] == pytest.approx(13 / 4)
    assert result["accuracy"] == pytest.approx(0.25)
    assert result["perplexity"] == pytest.approx(2.718281828 ** (13 / 4), rel=1e-6)
