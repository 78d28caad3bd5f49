"""Each augmentation keeps shape and range, is deterministic for a seed, and does what it says."""

from __future__ import annotations

import pytest
import torch

from pretune.vision.augment import (
    ImageAugment,
    cutout,
    gaussian_noise,
    hflip,
    random_shift,
    rotate,
    rotate_by,
)

AUGMENTS = {
    "shift": lambda x, g: random_shift(x, 2, g),
    "hflip": lambda x, g: hflip(x, 0.5, g),
    "rotate": lambda x, g: rotate(x, 30.0, g),
    "noise": lambda x, g: gaussian_noise(x, 0.2, g),
    "cutout": lambda x, g: cutout(x, 3, g),
    "chain": ImageAugment(shift=1, hflip=0.5, rotate=15, cutout=2, noise=0.05),
}


def images() -> torch.Tensor:
    return torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", AUGMENTS)
def test_shape_range_and_seed(name):
    fn = AUGMENTS[name]
    x = images()
    a = fn(x, torch.Generator().manual_seed(1))
    b = fn(x, torch.Generator().manual_seed(1))
    c = fn(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, x) and not torch.equal(a, c)


def test_shift_moves_content_by_whole_pixels():
    x = torch.zeros(64, 1, 5, 5)
    x[:, :, 2, 2] = 1.0  # one bright pixel in the centre
    out = random_shift(x, 1, torch.Generator().manual_seed(0))
    positions = {tuple(torch.nonzero(img[0]).tolist()[0]) for img in out}
    assert positions == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}


def test_flip_probability_one_mirrors():
    x = images()
    torch.testing.assert_close(hflip(x, 1.0, torch.Generator()), x.flip(-1))


def test_rotation_by_90_degrees_is_rot90():
    x = images()
    out = rotate_by(x, torch.full((16,), 90.0))
    torch.testing.assert_close(out, torch.rot90(x, k=1, dims=(-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate_by(x, torch.zeros(16)), x, atol=1e-6, rtol=0)


def test_cutout_zeroes_a_square():
    x = torch.ones(32, 1, 10, 10)
    out = cutout(x, 3, torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert int(zeros.max()) == 9 and int(zeros.min()) >= 4  # 3x3, clipped at the corners to 2x2


def test_noise_has_the_asked_spread():
    x = torch.full((8, 1, 32, 32), 0.5)
    out = gaussian_noise(x, 0.1, torch.Generator().manual_seed(0))
    assert abs(float((out - x).std()) - 0.1) < 0.01
