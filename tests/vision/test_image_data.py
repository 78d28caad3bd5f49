"""Image folders and digits become [0, 1] tensors; bad folders are DataErrors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from pretune.errors import DataError
from pretune.vision.data import ImageTrainBatches, load_images, split_images, take


def write_png(path: Path, value: int, size: tuple[int, int] = (6, 4), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, colour).save(path)


def test_folder_of_pngs_loads_as_tensors(tmp_path):
    for i in range(3):
        write_png(tmp_path / "cat" / f"{i}.png", 255)
        write_png(tmp_path / "dog" / f"{i}.png", 51)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")  # ignored
    data = load_images(str(tmp_path))
    assert data.pixels.shape == (6, 1, 4, 6)  # grey, H=4, W=6
    assert data.labels == ["cat"] * 3 + ["dog"] * 3
    assert torch.allclose(data.pixels[0], torch.ones(1, 4, 6))
    assert torch.allclose(data.pixels[3], torch.full((1, 4, 6), 51 / 255))


def test_rgb_images_keep_three_channels_and_resize(tmp_path):
    write_png(tmp_path / "a" / "x.png", 200, (5, 5), "RGB")
    write_png(tmp_path / "b" / "y.jpg", 10, (9, 7), "RGB")
    data = load_images(str(tmp_path), image_size=8)
    assert data.pixels.shape == (2, 3, 8, 8)
    assert float(data.pixels.min()) >= 0.0 and float(data.pixels.max()) <= 1.0


def test_mixed_sizes_without_image_size_name_both_files(tmp_path):
    write_png(tmp_path / "a" / "small.png", 1, (4, 4))
    write_png(tmp_path / "b" / "big.png", 1, (8, 8))
    with pytest.raises(DataError, match=r"small\.png is 4x4.*big\.png is 8x8.*model\.image_size"):
        load_images(str(tmp_path))


def test_unreadable_image_is_named(tmp_path):
    write_png(tmp_path / "a" / "ok.png", 1)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        load_images(str(tmp_path))


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(DataError, match="no subfolders"):
        load_images(str(tmp_path))
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_images(str(tmp_path))


def test_digits_split_is_stratified_and_batches_are_deterministic():
    data = load_images("digits")
    assert data.pixels.shape == (1797, 1, 8, 8) and float(data.pixels.max()) == 1.0
    rows = split_images(data, 0.1, 0.2, seed=0)
    assert sorted(rows["train"] + rows["validation"] + rows["test"]) == list(range(1797))
    split = take(data, rows["train"], [str(i) for i in range(10)])

    def noisy(x, g):
        return x + torch.rand(x.shape, generator=g)

    a = ImageTrainBatches(split, 32, seed=3, augment=noisy)
    b = ImageTrainBatches(split, 32, seed=3, augment=noisy)
    batch = a.epoch_batches(1)[5]
    assert b.epoch_batches(1)[5] == batch
    torch.testing.assert_close(a.load(batch)["pixel_values"], b.load(batch)["pixel_values"])
    b.epoch_batches(2)  # another epoch: same rows, different augmentation
    assert not torch.equal(a.load(batch)["pixel_values"], b.load(batch)["pixel_values"])
