"""FGM/PGD adversarial training and FGSM/PGD attacks in embedding space."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pretune.data.encode import EncodedSplit
from pretune.evaluate.robustness import char_noise_accuracy, evaluate_under_attack
from pretune.tasks.classify import ClassifyTask
from pretune.techniques.adversarial import FGM, PGD, project_tokens, token_step
from toy_classifier import TinyClassifier


def test_token_step_and_projection():
    grad = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
    step = token_step(grad, 2.0, torch.tensor([[1, 0]]))
    torch.testing.assert_close(step, torch.tensor([[[1.2, 1.6], [0.0, 0.0]]]))
    projected = project_tokens(torch.tensor([[[3.0, 4.0], [0.3, 0.4]]]), 1.0)
    torch.testing.assert_close(projected, torch.tensor([[[0.6, 0.8], [0.3, 0.4]]]))


class _State:
    def __init__(self, model, batch):
        self.model, self.batch = model, batch
        self.outputs = self.loss = None


def _batch():
    return {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
        "labels": torch.tensor([0, 2]),
    }


def _train_step(model, technique, window=1):
    """What the loop does around a technique: forward, scaled backward, after_backward."""
    task = technique.wrap_task(ClassifyTask(model, ["a", "b", "c"]))
    state = _State(model, _batch())
    technique.fit_start(state)
    technique.batch_start(state)
    state.outputs = task(state.batch)
    state.loss = state.outputs["loss"] / window
    state.loss.backward()
    technique.after_backward(state)
    technique.fit_end(state)
    return task


@pytest.mark.parametrize("freeze_embeddings", [False, True])
def test_fgm_adds_the_gradient_of_the_perturbed_loss(freeze_embeddings):
    model = TinyClassifier()
    model.emb.weight.requires_grad_(not freeze_embeddings)
    _train_step(model, FGM(epsilon=0.5), window=2)
    got = model.classifier.weight.grad.clone()

    # By hand: gradient at the embeddings, a step of 0.5 per real token, second loss.
    model.zero_grad()
    batch = _batch()
    embeds = model.emb(batch["input_ids"]).detach().requires_grad_(True)
    clean = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"])
    loss = F.cross_entropy(clean.logits, batch["labels"])
    (g,) = torch.autograd.grad(loss, embeds, retain_graph=True)
    (loss / 2).backward()
    delta = token_step(g, 0.5, batch["attention_mask"])
    adv = model(inputs_embeds=embeds.detach() + delta, attention_mask=batch["attention_mask"])
    (F.cross_entropy(adv.logits, batch["labels"]) / 2).backward()
    torch.testing.assert_close(got, model.classifier.weight.grad)
    assert model.emb._forward_hooks == {}  # the hook is removed at fit_end


def test_pgd_perturbation_stays_in_the_ball_and_raises_the_loss():
    model = TinyClassifier()
    pgd = PGD(epsilon=0.3, steps=4)
    seen = []
    original = pgd.hook.__class__.__call__

    def spy(hook, module, inputs, output):
        if hook.delta is not None:
            seen.append(hook.delta.detach().norm(dim=-1).max().item())
        return original(hook, module, inputs, output)

    pgd.hook.__class__.__call__ = spy
    try:
        _train_step(model, pgd)
    finally:
        pgd.hook.__class__.__call__ = original
    assert len(seen) == 4 and max(seen) <= 0.3 + 1e-6


def _separable_split(n: int = 60) -> EncodedSplit:
    # token 1..6 means label 0, 7..12 label 1, 13..18 label 2; rows are 4 such tokens.
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (n,), generator=g).tolist()
    rows = [(torch.randint(1, 7, (4,), generator=g) + 6 * y).tolist() for y in labels]
    return EncodedSplit(rows, labels, pad_token_id=0)


def _trained_toy() -> TinyClassifier:
    model = TinyClassifier(vocab=20, width=8)
    split = _separable_split()
    batch = split.load(range(len(split)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        optimizer.zero_grad()
        out = model(batch["input_ids"], batch["attention_mask"])
        F.cross_entropy(out.logits, batch["labels"]).backward()
        optimizer.step()
    return model


def test_attacks_lower_accuracy_and_pgd_is_at_least_as_strong():
    model, split = _trained_toy(), _separable_split()
    tiny = evaluate_under_attack(model, split, "pgd", epsilon=1e-4, steps=3, batch_size=16)
    assert tiny["clean_accuracy"] == 1.0 and tiny["attacked_accuracy"] == 1.0
    fgsm = evaluate_under_attack(model, split, "fgsm", epsilon=3.0, steps=5, batch_size=16)
    pgd = evaluate_under_attack(model, split, "pgd", epsilon=3.0, steps=5, batch_size=16)
    assert fgsm["steps"] == 1 and pgd["steps"] == 5
    assert fgsm["attacked_accuracy"] < 1.0
    assert pgd["attacked_accuracy"] <= fgsm["attacked_accuracy"]
    assert model.training  # left as it was found
    assert model.emb._forward_hooks == {}


def test_attack_input_errors():
    from pretune.errors import ConfigError, DataError

    model, split = TinyClassifier(), _separable_split(4)
    with pytest.raises(ConfigError, match="attack='cw' is unknown"):
        evaluate_under_attack(model, split, "cw", epsilon=1.0, steps=1, batch_size=4)
    with pytest.raises(DataError, match="labelled"):
        evaluate_under_attack(model, EncodedSplit([[1]], None, 0), "pgd", 1.0, 1, 4)


def test_char_noise_accuracy_on_the_tiny_bert(tiny_bert):
    from pretune.models.load import load_classifier, load_tokenizer

    torch.manual_seed(0)
    model = load_classifier(tiny_bert, ["a", "b"], max_length=32)
    texts = ["match goal team coach", "bank market shares profit"] * 4
    result = char_noise_accuracy(
        model, load_tokenizer(tiny_bert), texts, [0, 1] * 4, p=0.5, max_length=32
    )
    assert result["examples"] == 8
    assert 0.0 <= result["noisy_accuracy"] <= 1.0
    assert result["example"]["clean"] == texts[0] != result["example"]["noisy"]
