"""Image data: a `<folder>/<label>/<image>` tree (PNG, JPEG, BMP, GIF, WebP via Pillow) or the
`digits` built-in (scikit-learn's 1,797 8x8 grey digits), as float tensors in [0, 1].

Sizes: with `image_size` set every image is resized to it (square, bilinear); without it all
images must already share one size, and a mixed folder is a DataError naming two files that
differ (silently resizing would hide a folder that mixes unrelated images).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pretune.data.batching import epoch_batches
from pretune.errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageData",
    "ImageSplit",
    "ImageTrainBatches",
    "load_images",
    "resize",
    "split_images",
    "take",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class ImageData:
    """All images of a source: pixels (N, C, H, W) in [0, 1], their labels and file names."""

    pixels: torch.Tensor
    labels: list[str]
    names: list[str]  # file paths (folders) or "digits[i]"

    def __len__(self) -> int:
        return int(self.pixels.shape[0])


@dataclass
class ImageSplit:
    """One split as the evaluator and the loop see it (`lengths`, `load`)."""

    pixels: torch.Tensor  # (N, C, H, W)
    labels: list[int] | None
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def lengths(self) -> list[int]:
        return [1] * len(self)  # every image is one "row" of equal size

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        batch = {"pixel_values": self.pixels[index]}
        if self.labels is not None:
            batch["labels"] = torch.as_tensor([self.labels[i] for i in indices], dtype=torch.long)
        return batch


@dataclass
class ImageTrainBatches:
    """The training split for the loop; `augment(pixels, generator)` runs on every batch.

    The augmentation generator is seeded from (seed, epoch, the batch's rows), so a batch is
    augmented the same way whether the run was resumed or not.
    """

    split: ImageSplit
    batch_size: int
    seed: int
    augment: Any = None  # callable (pixels, torch.Generator) -> pixels, or None
    _epoch: int = 0

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        self._epoch = epoch
        return epoch_batches(
            self.split.lengths, self.batch_size, seed=self.seed, epoch=epoch, group_by_length=False
        )

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = self.split.load(indices)
        if self.augment is not None:
            rows = torch.as_tensor(list(indices), dtype=torch.int64).numpy().tobytes()
            seed = (self.seed * 1_000_003 + self._epoch * 7_919 + zlib.crc32(rows)) % 2**63
            generator = torch.Generator().manual_seed(seed)
            batch["pixel_values"] = self.augment(batch["pixel_values"], generator)
        return batch


def resize(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), bilinear, kept in [0, 1]."""
    if tuple(pixels.shape[-2:]) == (size, size):
        return pixels
    out = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)
    return out.clamp(0.0, 1.0)


def _digits(image_size: int | None) -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Values are 0..16 ink counts; /16 maps them to [0, 1] like any 8-bit image /255.
    pixels = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size:
        pixels = resize(pixels, image_size)
    labels = [str(int(t)) for t in digits.target]
    return ImageData(pixels, labels, [f"digits[{i}]" for i in range(len(labels))])


def _open(path: Path, mode: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
            channels = 1 if mode == "L" else 3
            shaped = data.reshape(image.height, image.width, channels).permute(2, 0, 1)
            return shaped.float() / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; remove or replace the file") from None


def _folder_files(folder: Path) -> list[tuple[Path, str]]:
    if not folder.is_dir():
        raise DataError(f"data.source={folder}: no such folder (or the built-in 'digits')")
    label_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not label_dirs:
        raise DataError(
            f"folder {folder} has no subfolders; put each label's images in "
            "<folder>/<label>/ (one subfolder per label)"
        )
    files = [
        (path, d.name)
        for d in label_dirs
        for path in sorted(d.iterdir())
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not files:
        raise DataError(
            f"folder {folder} has label subfolders ({', '.join(p.name for p in label_dirs)}) "
            f"but no images in them ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return files


def _is_grey(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.mode in ("1", "L", "LA", "I", "I;16", "F")
    except OSError:
        return False  # reported with its name when it is read


def _folder(folder: Path, image_size: int | None, grayscale: bool | None) -> ImageData:
    files = _folder_files(folder)
    if grayscale is None:  # auto: grey only when every image is grey
        grayscale = all(_is_grey(path) for path, _ in files)
    mode = "L" if grayscale else "RGB"
    images, sizes = [], {}
    for path, _ in files:
        image = _open(path, mode)
        if image_size:
            image = resize(image[None], image_size)[0]
        else:
            sizes.setdefault(tuple(image.shape[-2:]), path)
            if len(sizes) > 1:
                (a, pa), (b, pb) = list(sizes.items())[:2]
                raise DataError(
                    f"images have different sizes: {pa} is {a[1]}x{a[0]}, {pb} is "
                    f"{b[1]}x{b[0]}; set model.image_size=N to resize every image to NxN"
                )
        images.append(image)
    names = [str(path) for path, _ in files]
    return ImageData(torch.stack(images), [label for _, label in files], names)


def load_images(
    source: str, image_size: int | None = None, grayscale: bool | None = None
) -> ImageData:
    """The images of `source` ("digits" or a `<label>/<image>` folder) as `ImageData`.

    Args:
        source: "digits" or a folder path.
        image_size: resize every image to image_size x image_size (None: keep the size,
            which must then be the same for all).
        grayscale: one channel (True), RGB (False) or grey only if every file is (None).
            The digits are always grey.

    Raises:
        DataError: a missing/empty folder, an unreadable image (named), mixed sizes without
            image_size.
    """
    if source == "digits":
        return _digits(image_size)
    path = Path(source).expanduser()
    if path.is_file():
        raise DataError(
            f"data.source={source} is a file; images come from a folder of <label>/<image> "
            "files or the built-in 'digits'"
        )
    return _folder(path, image_size, grayscale)


def split_images(
    data: ImageData, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Stratified train/validation/test row indices (pretune.data.split's rules)."""
    import datasets

    from pretune.data.split import split_dataset

    table = datasets.Dataset.from_dict({"index": list(range(len(data))), "label": data.labels})
    parts = split_dataset(table, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    return {key: list(parts[key]["index"][:]) for key in ("train", "validation", "test")}


def take(data: ImageData, rows: Sequence[int], label_names: Sequence[str] | None) -> ImageSplit:
    """The rows as an ImageSplit, labels as ids in `label_names` order (None: unlabelled)."""
    index = torch.as_tensor(list(rows), dtype=torch.long)
    labels = None
    if label_names is not None:
        ids = {name: i for i, name in enumerate(label_names)}
        unknown = sorted({data.labels[i] for i in rows if data.labels[i] not in ids})
        if unknown:
            raise DataError(f"label(s) {', '.join(unknown)} are not in the training labels")
        labels = [ids[data.labels[i]] for i in rows]
    return ImageSplit(data.pixels[index], labels, [data.names[i] for i in rows])
