"""Robustness: accuracy under adversarial attack in embedding space, and under typos.

`evaluate_under_attack` perturbs each token's word embedding by at most `epsilon` (L2) in the
direction that most increases the loss: FGSM takes one step of the normalised gradient,
PGD takes `steps` smaller ones, projecting back into the epsilon ball after each (Madry et al.
2018). It reports accuracy on the clean inputs and under attack, batch by batch (no logits
are kept). Embedding-space attacks measure how brittle the decision is; they are not text a
person could write, so `char_noise_accuracy` also measures accuracy on texts with readable
typos.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pretune.data.augment import char_noise
from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit, encode_split
from pretune.errors import ConfigError, DataError
from pretune.techniques.adversarial import project_tokens, token_step
from pretune.techniques.wrapping import EmbeddingHook

__all__ = [
    "ATTACKS",
    "attack_batch",
    "char_noise_accuracy",
    "check_attack",
    "evaluate_under_attack",
]

ATTACKS = ("fgsm", "pgd")


def check_attack(method: str, epsilon: float, steps: int) -> None:
    """ConfigError for an unknown attack, epsilon <= 0 or steps < 1 (text and pixel attacks)."""
    if method not in ATTACKS:
        raise ConfigError(f"attack={method!r} is unknown; choose from {', '.join(ATTACKS)}")
    if epsilon <= 0 or steps < 1:
        raise ConfigError(f"attack needs epsilon > 0 and steps >= 1 (got {epsilon}, {steps})")


def _logits(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**inputs).logits.float()


def attack_batch(
    model: Any,
    hook: EmbeddingHook,
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    epsilon: float,
    steps: int,
) -> torch.Tensor:
    """The perturbation (B, T, H) of the word embeddings found by `steps` gradient steps.

    One step of size epsilon is FGSM (in its L2, normalised-gradient form); more steps of
    2.5 * epsilon / steps each, projected onto the epsilon ball, are PGD.
    """
    mask = inputs.get("attention_mask")
    size = epsilon if steps == 1 else 2.5 * epsilon / steps
    delta: torch.Tensor | None = None
    for _ in range(steps):
        with torch.enable_grad():
            if delta is None:  # first step: the gradient at the clean input
                hook.capture = True
                loss = F.cross_entropy(_logits(model, inputs), labels)
                hook.capture = False
                (grad,) = torch.autograd.grad(loss, hook.outputs)
                hook.outputs.clear()
                delta = torch.zeros_like(grad)
            else:
                delta.requires_grad_(True)
                hook.delta = delta
                loss = F.cross_entropy(_logits(model, inputs), labels)
                (grad,) = torch.autograd.grad(loss, delta)
                hook.delta = None
        delta = project_tokens(delta.detach() + token_step(grad, size, mask), epsilon)
    assert delta is not None
    return delta


def _count_correct(
    model: Any, split: EncodedSplit, epsilon: float, steps: int, batch_size: int
) -> tuple[int, int]:
    """(correct on clean inputs, correct under attack) over `split`, batch by batch."""
    device = next(model.parameters()).device
    hook = EmbeddingHook()
    hook.attach(model)
    clean = attacked = 0
    try:
        for indices in inference_batches(split.lengths, batch_size):
            batch = {k: v.to(device) for k, v in split.load(indices).items()}
            labels = batch.pop("labels")
            with torch.no_grad():
                clean += int((_logits(model, batch).argmax(-1) == labels).sum())
            hook.delta = attack_batch(model, hook, batch, labels, epsilon, steps)
            with torch.no_grad():
                attacked += int((_logits(model, batch).argmax(-1) == labels).sum())
            hook.delta = None
    finally:
        hook.detach()
    return clean, attacked


def evaluate_under_attack(
    model: Any,
    split: EncodedSplit,
    method: str,
    epsilon: float,
    steps: int,
    batch_size: int,
) -> dict[str, Any]:
    """Accuracy of `model` on `split`, clean and under an FGSM/PGD attack on its embeddings.

    Args:
        model: a `*ForSequenceClassification` model (any device; it is put in eval mode).
        split: a labelled encoded split.
        method: "fgsm" (one step) or "pgd" (`steps` projected steps).
        epsilon: the most each token's word embedding may move (L2 norm).
        steps: PGD steps (ignored by FGSM).
        batch_size: examples per forward pass.

    Returns:
        {"method", "epsilon", "steps", "examples", "clean_accuracy", "attacked_accuracy",
        "accuracy_drop"}.

    Raises:
        ConfigError: an unknown method, epsilon <= 0 or steps < 1.
        DataError: the split has no labels or no rows.
    """
    check_attack(method, epsilon, steps)
    if split.labels is None or len(split) == 0:
        raise DataError("the attack needs a labelled, non-empty split")
    steps = 1 if method == "fgsm" else steps
    was_training = model.training
    model.eval()  # no dropout: the attack and the clean score see the same function
    try:
        clean, attacked = _count_correct(model, split, epsilon, steps, batch_size)
    finally:
        model.train(was_training)
    n = len(split)
    return {
        "method": method,
        "epsilon": epsilon,
        "steps": steps,
        "examples": n,
        "clean_accuracy": clean / n,
        "attacked_accuracy": attacked / n,
        "accuracy_drop": (clean - attacked) / n,
    }


def _accuracy(model: Any, split: EncodedSplit, batch_size: int, device: Any) -> float:
    correct = 0
    labels = torch.tensor(split.labels)
    with torch.no_grad():
        for indices in inference_batches(split.lengths, batch_size):
            batch = {k: v.to(device) for k, v in split.load(indices).items()}
            predicted = _logits(model, {k: v for k, v in batch.items() if k != "labels"})
            correct += int((predicted.argmax(-1).cpu() == labels[indices]).sum())
    return correct / max(1, len(split))


def char_noise_accuracy(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    p: float = 0.1,
    max_length: int = 256,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy on `texts` as given and with typos in a share `p` of their words.

    Returns:
        {"p", "examples", "clean_accuracy", "noisy_accuracy", "accuracy_drop", "example"}:
        `example` shows the first text before and after noise, so the change is readable.
    """
    if len(texts) != len(labels) or not texts:
        raise DataError("char_noise_accuracy needs as many labels as texts (and some texts)")
    rng = random.Random(seed)
    noisy = [char_noise(text, p, rng) for text in texts]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        scores = [
            _accuracy(
                model,
                encode_split(tokenizer, batch, max_length=max_length, labels=list(labels)),
                batch_size,
                device,
            )
            for batch in (list(texts), noisy)
        ]
    finally:
        model.train(was_training)
    return {
        "p": p,
        "examples": len(texts),
        "clean_accuracy": scores[0],
        "noisy_accuracy": scores[1],
        "accuracy_drop": scores[0] - scores[1],
        "example": {"clean": texts[0][:200], "noisy": noisy[0][:200]},
    }
