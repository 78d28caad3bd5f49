"""Knowledge distillation: the loss against a hand computation, hidden-state matching, the
cached-logit row matching, and the task wrapper (cached == on the fly, label order)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pretune.data.encode import EncodedSplit
from pretune.errors import ConfigError
from pretune.tasks.classify import ClassifyTask
from pretune.techniques.distill import (
    CachedTeacherBatches,
    Distill,
    hidden_mse,
    kd_loss,
    layer_map,
    soft_loss,
    teacher_logits_for,
)

LABELS = ["a", "b", "c"]


def test_kd_loss_equals_a_hand_computation():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([0, 2, 1, 2])
    T, alpha = 3.0, 0.7
    hard = F.cross_entropy(student, labels)
    kl = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        p_t = [math.exp(v / T) for v in t_row]
        p_s = [math.exp(v / T) for v in s_row]
        p_t = [v / sum(p_t) for v in p_t]
        p_s = [v / sum(p_s) for v in p_s]
        kl += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s, strict=True))
    expected = alpha * T**2 * kl / 4 + (1 - alpha) * float(hard)
    assert float(kd_loss(student, teacher, hard, T, alpha)) == pytest.approx(expected, rel=1e-5)
    # alpha = 0 is plain cross-entropy; a student equal to its teacher has no soft loss.
    assert float(kd_loss(student, teacher, hard, T, 0.0)) == pytest.approx(float(hard))
    assert float(soft_loss(teacher, teacher, T)) == pytest.approx(0.0, abs=1e-6)


def test_hidden_mse_ignores_padding_and_projects():
    student = torch.zeros(1, 3, 2)
    teacher = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [3.0] * 4, [100.0] * 4]])
    mask = torch.tensor([[1, 1, 0]])  # the third token is padding
    projection = torch.nn.Linear(2, 4)
    torch.nn.init.zeros_(projection.weight)
    torch.nn.init.zeros_(projection.bias)
    loss = hidden_mse(student, teacher, mask, projection).detach()
    assert float(loss) == pytest.approx((1 + 9) / 2)


def test_layer_map_spreads_student_layers_over_the_teacher():
    assert layer_map(3, 6) == [2, 4, 6]
    assert layer_map(2, 2) == [1, 2]
    assert layer_map(1, 6) == [6]


def _split(n: int = 10, seed: int = 0) -> EncodedSplit:
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        length = 4 + i % 5
        rows.append([2, *torch.randint(5, 60, (length,), generator=rng).tolist(), 3])
    return EncodedSplit(rows, [i % 3 for i in range(n)], pad_token_id=0)


def test_cached_logits_are_matched_to_their_rows():
    split = _split(10)
    table = torch.arange(10, dtype=torch.float).unsqueeze(1).repeat(1, 3)  # row i -> i
    data = CachedTeacherBatches(split, 4, seed=0, teacher_logits=table)
    for indices in data.epoch_batches(0):
        batch = data.load(indices)
        assert batch["teacher_logits"][:, 0].tolist() == [float(i) for i in indices]
    data.rank, data.world_size = 1, 2  # each process gets the logits of its own rows
    batch = data.load([7, 2, 5, 9])
    assert batch["teacher_logits"][:, 0].tolist() == [2.0, 9.0]
    with pytest.raises(ValueError, match="one row per training example"):
        CachedTeacherBatches(split, 4, seed=0, teacher_logits=table[:5])


def _bert(width: int, layers: int, seed: int):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=64, hidden_size=width, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * width, max_position_embeddings=32, num_labels=3,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def test_cached_and_on_the_fly_teacher_give_the_same_loss():
    teacher, student = _bert(16, 2, seed=1), _bert(16, 1, seed=2)
    technique = Distill(teacher, LABELS, temperature=2.0, alpha=0.8)
    task = technique.wrap_task(ClassifyTask(technique.prepare_model(student), list(LABELS)))
    split = _split(12)
    cache = teacher_logits_for(teacher, split, 5, torch.device("cpu"))  # other padding
    data = CachedTeacherBatches(split, 4, seed=0, teacher_logits=cache)
    student.train()
    indices = data.epoch_batches(0)[0]
    cached = task(data.load(indices))
    on_the_fly = task(split.load(indices))
    assert float(cached["loss"].detach()) == pytest.approx(
        float(on_the_fly["loss"].detach()), abs=1e-5
    )
    hard = F.cross_entropy(cached["logits"].detach(), split.load(indices)["labels"])
    assert abs(float(cached["loss"].detach()) - float(hard)) > 1e-3  # the teacher term is there
    student.eval()  # evaluation ignores the teacher (and the cached-logits key)
    with torch.no_grad():
        assert float(task(data.load(indices))["loss"]) == pytest.approx(float(hard), abs=1e-5)


def test_teacher_labels_are_reordered_to_the_students():
    teacher, student = _bert(16, 2, seed=1), _bert(16, 1, seed=2)
    reverse = Distill(teacher, LABELS[::-1], temperature=1.0, alpha=1.0)
    task = reverse.wrap_task(ClassifyTask(reverse.prepare_model(student), list(LABELS)))
    batch = _split(4).load([0, 1, 2, 3])
    student.train()
    with torch.no_grad():
        t_logits = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out = task(batch)
    expected = soft_loss(out["logits"], t_logits.logits.flip(-1), 1.0)
    assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ConfigError, match="labels"):
        reverse.wrap_task(ClassifyTask(student, ["a", "b", "z"]))


def test_hidden_matching_trains_a_projection_when_widths_differ():
    teacher, student = _bert(16, 2, seed=1), _bert(8, 1, seed=2)
    technique = Distill(teacher, LABELS, alpha=0.5, hidden_weight=1.0)
    task = technique.wrap_task(ClassifyTask(technique.prepare_model(student), list(LABELS)))
    assert technique.matched == [2]  # the student's only layer meets the teacher's last
    groups = technique.param_groups([], student)
    assert sum(p.numel() for g in groups for p in g["params"]) == 8 * 16 + 16
    student.train()
    out = task(_split(4).load([0, 1, 2, 3]))
    assert float(out["hidden_loss"].detach()) > 0
    out["loss"].backward()
    assert technique.projections[0].weight.grad is not None
    saved = technique.state_dict()
    assert set(saved["projections"]) == {"0.weight", "0.bias"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"temperature": 0.0}, "temperature"), ({"alpha": 1.5}, "alpha"), ({"alpha": -0.1}, "alpha")],
)
def test_bad_parameters_are_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=f"distill.{field}"):
        Distill(_bert(8, 1, seed=0), LABELS, **kwargs)


def test_a_student_with_another_vocabulary_is_refused():
    from transformers import BertConfig, BertForSequenceClassification

    other = BertForSequenceClassification(
        BertConfig(vocab_size=99, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=16, num_labels=3)
    )  # fmt: skip
    with pytest.raises(ConfigError, match="tokenizer"):
        Distill(_bert(8, 1, seed=0), LABELS).prepare_model(other)
