"""The regularisation techniques' pure functions, their task wrappers, and EMA/SWA swapping."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pretune.techniques.averaging import swap_weights
from pretune.techniques.ema import EMA
from pretune.techniques.l1 import l1_penalty, penalised_parameters
from pretune.techniques.max_norm import max_norm_
from pretune.techniques.mixup import Mixup, mix_embeddings, mixup_loss, sample_mixup
from pretune.techniques.rdrop import RDrop, symmetric_kl
from pretune.techniques.registry import build_techniques
from pretune.techniques.swa import SWA, swa_update
from toy_classifier import TinyClassifier


def _task(model):
    from pretune.tasks.classify import ClassifyTask

    return ClassifyTask(model, ["a", "b", "c"])


def _batch():
    return {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 0], [6, 7, 8], [9, 1, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 0]]),
        "labels": torch.tensor([0, 1, 2, 0]),
    }


def test_l1_penalty_sums_absolute_weights_of_matrices_only():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    params = penalised_parameters(model)
    assert len(params) == 1  # the bias is not penalised
    assert l1_penalty(params).item() == pytest.approx(3.5)


def test_l1_adds_the_penalty_in_training_only():
    model = TinyClassifier()
    (l1,) = build_techniques({"l1": {"strength": 0.1}})
    task, plain = l1.wrap_task(_task(model)), _task(model)
    penalty = 0.1 * l1_penalty(penalised_parameters(model)).item()
    loss, plain_loss = task(_batch())["loss"].item(), plain(_batch())["loss"].item()
    assert loss == pytest.approx(plain_loss + penalty)
    model.eval()
    assert task(_batch())["loss"].item() == pytest.approx(plain(_batch())["loss"].item())


def test_max_norm_caps_rows_and_keeps_small_ones():
    weight = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    max_norm_([weight], 1.0)
    torch.testing.assert_close(weight.norm(dim=1), torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(weight[1], torch.tensor([0.3, 0.4]))


def test_mixup_pure_functions():
    embeds = torch.arange(12.0).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    perm = torch.tensor([1, 0])
    mixed, union = mix_embeddings(embeds, mask, 0.25, perm)
    torch.testing.assert_close(mixed[0], 0.25 * embeds[0] + 0.75 * embeds[1])
    assert union.tolist() == [[1, 1, 1], [1, 1, 1]]
    logits, labels = torch.randn(2, 3), torch.tensor([0, 2])
    expected = 0.25 * F.cross_entropy(logits, labels) + 0.75 * F.cross_entropy(logits, labels[perm])
    torch.testing.assert_close(mixup_loss(F.cross_entropy, logits, labels, 0.25, perm), expected)
    torch.manual_seed(3)
    first = sample_mixup(8, 0.4)
    torch.manual_seed(3)
    second = sample_mixup(8, 0.4)
    assert first[0] == second[0] and torch.equal(first[1], second[1])  # torch RNG: repeatable


def test_mixup_wrapper_mixes_in_training_and_passes_through_in_eval():
    model = TinyClassifier()
    task = Mixup(alpha=1.0).wrap_task(_task(model))
    torch.manual_seed(0)
    out = task(_batch())
    torch.manual_seed(0)
    lam, perm = sample_mixup(4, 1.0)
    embeds, mask = model.emb(_batch()["input_ids"]), _batch()["attention_mask"]
    mixed = lam * embeds + (1 - lam) * embeds[perm]
    logits = model(inputs_embeds=mixed, attention_mask=torch.maximum(mask, mask[perm])).logits
    labels = _batch()["labels"]
    torch.testing.assert_close(out["loss"], mixup_loss(F.cross_entropy, logits, labels, lam, perm))
    model.eval()
    torch.testing.assert_close(task(_batch())["loss"], _task(model)(_batch())["loss"])
    assert task.new_metrics() is not None  # attributes reach the inner task


def test_symmetric_kl_known_values():
    a = torch.tensor([[0.0, 0.0]])
    b = torch.log(torch.tensor([[0.9, 0.1]]))
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])
    expected = 0.5 * ((p * (p / q).log()).sum() + (q * (q / p).log()).sum())
    torch.testing.assert_close(symmetric_kl(a, b), expected)
    assert float(symmetric_kl(a, a)) == 0.0


def test_rdrop_penalises_disagreement_between_dropout_passes():
    model = TinyClassifier(dropout=0.5)
    torch.manual_seed(1)
    with_kl = RDrop(alpha=5.0).wrap_task(_task(model))(_batch())["loss"].item()
    torch.manual_seed(1)
    without = RDrop(alpha=0.0).wrap_task(_task(model))(_batch())["loss"].item()
    assert with_kl > without  # same dropout masks: the difference is the KL term


def test_swa_update_is_the_running_mean():
    average = [torch.tensor([1.0])]
    for count, value in enumerate([3.0, 5.0], start=1):
        swa_update(average, [torch.tensor([value])], count)
    torch.testing.assert_close(average[0], torch.tensor([3.0]))


class _State:
    def __init__(self, model, step, total):
        self.model, self.step, self.total_steps = model, step, total


def test_swa_averages_only_after_start_and_swaps_for_eval():
    model = torch.nn.Linear(1, 1, bias=False)
    swa = SWA(start=0.5)
    for step, value in enumerate([10.0, 20.0, 1.0, 2.0, 3.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        swa.after_step(_State(model, step, 5))
    assert swa.count == 3 and float(swa.average[0]) == pytest.approx(2.0)
    swa.eval_start(_State(model, 5, 5))
    assert model.weight.item() == pytest.approx(2.0)
    assert not hasattr(swa, "eval_end")  # the average stays for the best-model keeper

    swa.batch_start(_State(model, 5, 5))  # training goes on from its own weights
    assert model.weight.item() == pytest.approx(3.0)
    restored = SWA(start=0.5)
    restored.load_state_dict(swa.state_dict())
    assert restored.count == 3
    assert restored.export_model(model).weight.item() == pytest.approx(2.0)


def test_ema_is_validated_with_its_average_then_training_resumes_from_the_raw_weights():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(decay=0.5)
    ema.fit_start(_State(model, 0, 2))
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.after_step(_State(model, 1, 2))  # average: 2.0
    ema.eval_start(_State(model, 1, 2))
    assert model.weight.item() == pytest.approx(2.0)
    assert not hasattr(ema, "eval_end")  # the best-model keeper saves what was scored
    ema.checkpoint(_State(model, 1, 2))  # checkpoints hold the training weights
    assert model.weight.item() == pytest.approx(3.0)
    ema.checkpoint(_State(model, 1, 2))  # and a second restore changes nothing
    assert model.weight.item() == pytest.approx(3.0)
    a, b = [torch.tensor([1.0])], [torch.tensor([2.0])]
    swap_weights(a, b)
    assert (float(a[0]), float(b[0])) == (2.0, 1.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"mixup": {"alpha": 0}}, "alpha must be > 0"),
        ({"rdrop": {"alpha": -1}}, "alpha must be >= 0"),
        ({"swa": {"start": 1.5}}, "start must be in"),
        ({"max_norm": {"max_norm": 0}}, "max_norm must be > 0"),
        ({"l1": {"strength": 0}}, "strength must be > 0"),
        ({"augment": {"ops": ["shuffle"]}}, "unknown ops"),
        ({"pgd": {"steps": 0}}, "steps must be >= 1"),
    ],
)
def test_bad_parameters_are_config_errors(spec, message):
    from pretune.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        build_techniques(spec)
