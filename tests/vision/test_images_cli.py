"""`pretune images` bad input: one `error:` line naming the problem, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import pretune.cli.main as cli


@pytest.fixture(autouse=True)
def only_images_command(monkeypatch):
    # Parse with this command alone: the test is about its errors, not the other commands.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("pretune.cli.recipes",))


def run(capsys, tmp_path: Path, *args: str) -> str:
    code = cli.main(["images", f"output_dir={tmp_path / 'runs'}", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def png(path: Path, size: tuple[int, int] = (4, 4)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 128).save(path)


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "imgs").mkdir()
    assert "no subfolders" in run(capsys, tmp_path, f"data.source={tmp_path / 'imgs'}")


def test_one_class(capsys, tmp_path):
    for i in range(10):
        png(tmp_path / "imgs" / "cat" / f"{i}.png")
    line = run(capsys, tmp_path, f"data.source={tmp_path / 'imgs'}", "data.val_fraction=0",
               "data.test_fraction=0")  # fmt: skip
    assert "only one label" in line and "'cat'" in line


def test_unreadable_image(capsys, tmp_path):
    png(tmp_path / "imgs" / "a" / "ok.png")
    (tmp_path / "imgs" / "b").mkdir()
    (tmp_path / "imgs" / "b" / "bad.jpg").write_bytes(b"\x00garbage")
    assert "bad.jpg" in run(capsys, tmp_path, f"data.source={tmp_path / 'imgs'}")


def test_mixed_sizes(capsys, tmp_path):
    png(tmp_path / "imgs" / "a" / "s.png", (4, 4))
    png(tmp_path / "imgs" / "b" / "l.png", (6, 6))
    line = run(capsys, tmp_path, f"data.source={tmp_path / 'imgs'}")
    assert "different sizes" in line and "model.image_size" in line


def test_unknown_arch(capsys, tmp_path):
    line = run(capsys, tmp_path, "model.arch=resnet")
    assert "model.arch" in line and "vit" in line and "cnn" in line


def test_patch_size_must_divide(capsys, tmp_path):
    line = run(capsys, tmp_path, "model.patch_size=3")
    assert "model.patch_size=3" in line
