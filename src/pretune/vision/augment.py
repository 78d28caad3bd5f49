"""Image augmentation on (B, C, H, W) float tensors in [0, 1], without torchvision.

Each function draws its randomness from the `torch.Generator` it is given (one per batch,
seeded by the data pipeline), so a batch is augmented identically on every run and resume.
Every function keeps the shape and the [0, 1] range. They apply to training batches only:
`ImageTrainBatches` calls them; evaluation reads the images unchanged.

Horizontal flips are off by default: a mirrored digit (or letter) is often a different or an
invalid symbol (a flipped 2 or 7 is no digit at all), so flipping would teach wrong labels.
Turn them on for natural images (animals, objects), where mirror images keep their label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ImageAugment",
    "cutout",
    "gaussian_noise",
    "hflip",
    "random_shift",
    "rotate",
    "rotate_by",
]


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Pad each image by `pad` zeros on every side, then crop a random window of the original
    size: a random translation of up to `pad` pixels in each direction."""
    if pad <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator)
    rows = [
        padded[i, :, int(dy) : int(dy) + h, int(dx) : int(dx) + w]
        for i, (dy, dx) in enumerate(offsets)
    ]
    return torch.stack(rows)


def hflip(x: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with `probability`."""
    if probability <= 0:
        return x
    flip = torch.rand(x.shape[0], generator=generator) < probability
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def rotate_by(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate image i about its centre by `degrees[i]` (counter-clockwise on screen; bilinear;
    corners that come from outside the image are 0)."""
    angles = degrees.to(torch.float64) * (math.pi / 180.0)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(cos)
    # affine_grid maps output to input coordinates (y pointing down): this matrix turns the
    # picture counter-clockwise as seen on screen.
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp(0.0, 1.0)


def rotate(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by an angle drawn from [-degrees, degrees]."""
    if degrees <= 0:
        return x
    return rotate_by(x, _uniform(x.shape[0], -degrees, degrees, generator))


def gaussian_noise(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Add N(0, std^2) noise to every pixel, clamped back into [0, 1]."""
    if std <= 0:
        return x
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return (x + std * noise).clamp(0.0, 1.0)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a `size` x `size` square at a random centre of each image (clipped at the edges;
    DeVries & Taylor 2017): the model must not rely on any one region."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator)
    cx = torch.randint(0, w, (b,), generator=generator)
    ys, xs = torch.arange(h)[None, :], torch.arange(w)[None, :]
    top, left = cy - size // 2, cx - size // 2
    in_rows = (ys >= top[:, None]) & (ys < top[:, None] + size)  # (B, H)
    in_cols = (xs >= left[:, None]) & (xs < left[:, None] + size)  # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (B, H, W)
    return x.masked_fill(hole[:, None], 0.0)


@dataclass(frozen=True)
class ImageAugment:
    """The configured chain, applied in this order: shift, flip, rotate, cutout, noise."""

    shift: int = 0
    hflip: float = 0.0
    rotate: float = 0.0
    cutout: int = 0
    noise: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.shift or self.hflip or self.rotate or self.cutout or self.noise)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_shift(x, self.shift, generator)
        x = hflip(x, self.hflip, generator)
        x = rotate(x, self.rotate, generator)
        x = cutout(x, self.cutout, generator)
        return gaussian_noise(x, self.noise, generator)
