"""Pixel attacks stay in their ball; mixup mixes pixels; adversarial training adds the attacked
loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pretune.tasks.classify import ClassifyTask
from pretune.techniques.mixup import Mixup
from pretune.vision.adversarial import PixelAdversarialTraining, attack_pixels
from pretune.vision.models import SmallCNN, SmallCNNConfig


def linear(weight: torch.Tensor):
    return lambda x: x.flatten(1) @ weight


def test_fgsm_is_one_signed_step_and_pgd_stays_in_the_ball():
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(8, 1, 4, 4, generator=g), torch.randn(16, 3, generator=g)
    y = torch.randint(0, 3, (8,), generator=g)
    logits_of = linear(w)

    def loss_of(p: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits_of(p), y, reduction="none")

    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of(xg).sum(), xg)
    fgsm = attack_pixels(logits_of, x, y, "fgsm", 0.1)
    torch.testing.assert_close(fgsm, (x + 0.1 * grad.sign()).clamp(0, 1))
    pgd = attack_pixels(logits_of, x, y, "pgd", 0.1, steps=7)
    assert float((pgd - x).abs().max()) <= 0.1 + 1e-6
    assert float(pgd.min()) >= 0.0 and float(pgd.max()) <= 1.0
    # Per image, PGD is at least as strong as FGSM (it keeps the stronger of the two).
    assert (loss_of(pgd) >= loss_of(fgsm) - 1e-6).all()
    assert (loss_of(fgsm) > loss_of(x)).all()


def tiny_cnn() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(SmallCNNConfig(1, [4], 0.0, num_labels=3)).eval()


def test_mixup_mixes_pixels_and_labels():
    model = tiny_cnn()
    model.train()
    model.features[1].eval()  # BatchNorm from running stats: the same function on both passes
    task = ClassifyTask(model, ["a", "b", "c"])
    x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(5)
    out = Mixup(alpha=0.4).wrap_task(task)({"pixel_values": x, "labels": y})
    torch.manual_seed(5)  # the same lam and permutation
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    perm = torch.randperm(6)
    logits = model(pixel_values=lam * x + (1 - lam) * x[perm]).logits
    expected = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm])
    torch.testing.assert_close(out["loss"], expected)


def test_adversarial_training_averages_clean_and_attacked_loss():
    model = tiny_cnn()
    model.train()
    model.features[1].eval()
    task = ClassifyTask(model, ["a", "b", "c"])
    x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    out = PixelAdversarialTraining("fgsm", 0.1).wrap_task(task)({"pixel_values": x, "labels": y})

    def loss_of(p: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(pixel_values=p).logits, y)

    adv = attack_pixels(lambda p: model(pixel_values=p).logits, x, y, "fgsm", 0.1)
    expected = 0.5 * (loss_of(x) + loss_of(adv))
    torch.testing.assert_close(out["loss"], expected)
    assert float(loss_of(adv).detach()) > float(loss_of(x).detach())


def test_default_mae_has_positions_and_finite_gradients_on_blank_patches():
    # With transformers' layer_norm_eps=1e-12 this batch gave NaN LayerNorm gradients.
    from pretune.catalog.images import ImageConfig
    from pretune.vision.data import load_images
    from pretune.vision.models import build_mae

    cfg = ImageConfig(objective="mim")
    torch.manual_seed(0)
    mae = build_mae(cfg.model, cfg.mim, 8, 1)
    # transformers 5 leaves MAE's fixed sin-cos position embeddings at zero; build_mae sets them.
    assert float(mae.vit.embeddings.position_embeddings.abs().sum()) > 0
    assert float(mae.decoder.decoder_pos_embed.abs().sum()) > 0
    pixels = load_images("digits").pixels[64:128]
    for _ in range(2):
        mae(pixel_values=pixels).loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in mae.parameters() if p.grad is not None)
