"""Shared encoder and the multi-task task: one encoder object under every head, stored once,
saved whole per head; each batch's loss is its task's loss times the task's weight."""

from __future__ import annotations

import pytest
import torch

from pretune.data.masking import IGNORE_INDEX
from pretune.tasks.classify import ClassifyTask
from pretune.tasks.mlm import MLMTask
from pretune.tasks.multitask import MultiTask, attached, share_encoder


def _config(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **extra,
    )  # fmt: skip


@pytest.fixture
def joint():
    from transformers import BertForMaskedLM, BertForSequenceClassification

    torch.manual_seed(0)
    heads = {
        "topic": BertForSequenceClassification(_config(num_labels=3)),
        "sport": BertForSequenceClassification(_config(num_labels=2)),
        "mlm": BertForMaskedLM(_config()),
    }
    model = share_encoder(heads)
    tasks = [
        ClassifyTask(model.heads["topic"], ["a", "b", "c"]),
        ClassifyTask(model.heads["sport"], ["no", "yes"]),
        MLMTask(model.heads["mlm"]),
    ]
    return MultiTask(model, ["topic", "sport", "mlm"], tasks, [1.0, 0.5, 0.25])


def _batch(task_id: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 50, (4, 10), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if task_id == 2:
        labels = torch.full_like(ids, IGNORE_INDEX)
        labels[:, 3] = ids[:, 3]
        batch["labels"] = labels
    else:
        batch["labels"] = torch.randint(0, 3 if task_id == 0 else 2, (4,), generator=g)
    batch["task_id"] = torch.tensor(task_id)
    return batch


def test_every_head_uses_one_encoder_stored_once(joint):
    model = joint.model
    encoder = model.encoder
    assert all(head.base_model is encoder for head in model.heads.values())
    # The MLM decoder stays tied to the (shared) input embeddings.
    mlm = model.heads["mlm"]
    assert mlm.get_output_embeddings().weight is encoder.get_input_embeddings().weight
    keys = list(model.state_dict())
    assert sum(".encoder.layer.0.attention.self.query.weight" in k for k in keys) == 1
    unique = {id(p) for p in model.parameters()}
    assert len(unique) == len(list(model.parameters()))


@torch.no_grad()
def test_weighted_loss_equals_the_hand_sum(joint):
    batches = [_batch(t, seed) for seed, t in enumerate([0, 1, 2, 0, 2])]
    total = sum(joint(b)["loss"] for b in batches)
    by_hand = 0.0
    for b in batches:
        t = int(b["task_id"])
        inputs = {k: v for k, v in b.items() if k != "task_id"}
        by_hand = by_hand + joint.weights[t] * joint.tasks[t](inputs)["loss"]
    assert float(total) == pytest.approx(float(by_hand), rel=1e-6)
    out = joint(batches[1])
    assert float(out["loss"]) == pytest.approx(0.5 * float(out["task_loss"]), rel=1e-6)


def test_a_task_trains_the_shared_encoder_and_only_its_own_head(joint):
    joint(_batch(2, 0))["loss"].backward()  # the MLM task
    model = joint.model
    assert model.encoder.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert model.heads["topic"].classifier.weight.grad is None
    assert model.heads["mlm"].cls.predictions.transform.dense.weight.grad is not None


def test_each_head_saves_as_a_complete_model(joint, tmp_path):
    from transformers import AutoModelForSequenceClassification

    head = joint.model.heads["sport"]
    with attached(head):
        head.save_pretrained(str(tmp_path / "sport"))
    assert "bert" not in head._modules  # detached again: still stored once in the joint model
    loaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "sport")).eval()
    batch = _batch(1, 7)
    joint.model.eval()
    with torch.no_grad():
        expected = joint(batch)["logits"]
        got = loaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(expected, got, atol=1e-6)
