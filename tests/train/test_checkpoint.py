"""Tests for atomic, verified checkpoints (DESIGN §5 "Nothing lost", "Safe loading")."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pretune.errors import CheckpointError, PretuneError
from pretune.train.checkpoint import (
    capture_rng_state,
    latest_intact_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
    save_model_state,
    verify_checkpoint,
)


class TinyTied(nn.Module):
    """Embedding tied to the output layer, like a BERT MLM head."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 4)
        self.hidden = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.out = nn.Linear(4, 11)
        self.out.weight = self.emb.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(torch.relu(self.hidden(self.emb(ids)))))


def _trained(seed: int = 0) -> tuple[TinyTied, torch.optim.Optimizer, object]:
    torch.manual_seed(seed)
    model = TinyTied()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    for _ in range(2):
        ids = torch.randint(0, 11, (3, 5))
        loss = nn.functional.cross_entropy(model(ids).reshape(-1, 11), ids.reshape(-1))
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    return model, opt, sched


def _save(run: Path, step: int, **kwargs) -> Path:
    model = nn.Linear(2, 2)
    return save_checkpoint(
        run,
        step,
        model_state=model.state_dict(),
        training_state={"rng": capture_rng_state()},
        trainer_state={"step": step},
        **kwargs,
    )


def _assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


def _rewrite_manifest_entry(folder: Path, name: str) -> None:
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = (folder / name).read_bytes()
    manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest))


def test_round_trip_model_optimizer_scheduler(tmp_path: Path) -> None:
    model, opt, sched = _trained()
    training_state = {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": capture_rng_state(),
    }
    trainer_state = {"step": 2, "epoch": 0, "batch_in_epoch": 2, "best_metric": 0.5}
    path = save_checkpoint(
        tmp_path / "run",
        2,
        model_state=model.state_dict(),
        training_state=training_state,
        trainer_state=trainer_state,
    )
    assert path == tmp_path / "run" / "checkpoints" / "step-2"
    assert sorted(p.name for p in path.iterdir()) == [
        "manifest.json",
        "model.safetensors",
        "trainer_state.json",
        "training_state.pt",
    ]
    verify_checkpoint(path)

    model_state, loaded_training, loaded_trainer = load_checkpoint(path)
    assert loaded_trainer == trainer_state
    _assert_same(model.state_dict(), model_state)
    _assert_same(training_state, loaded_training)

    # The state loads into fresh objects and training continues identically.
    model2, opt2, sched2 = _trained(seed=1)
    model2.load_state_dict(model_state)
    opt2.load_state_dict(loaded_training["optimizer"])
    sched2.load_state_dict(loaded_training["scheduler"])
    _assert_same(opt.state_dict(), opt2.state_dict())
    ids = torch.randint(0, 11, (3, 5))
    for m, o in ((model, opt), (model2, opt2)):
        nn.functional.cross_entropy(m(ids).reshape(-1, 11), ids.reshape(-1)).backward()
        o.step()
    _assert_same(model.state_dict(), model2.state_dict())


def test_tied_and_view_tensors_are_saved(tmp_path: Path) -> None:
    base = torch.arange(12, dtype=torch.float32)
    state = {"a": base, "b": base, "view": base[2:6], "t": base.reshape(3, 4).t()}
    save_model_state(tmp_path / "w.safetensors", state)
    loaded = load_model_state(tmp_path / "w.safetensors")
    for key, value in state.items():
        assert torch.equal(loaded[key], value)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_load_model_state_missing_or_garbage(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_model_state(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=r"bad\.safetensors"):
        load_model_state(bad)


def test_keep_prunes_oldest_but_never_protected(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for step in (10, 20, 30, 40):
        _save(run, step, keep=2, protect=["step-10"])
    assert [p.name for p in list_checkpoints(run)] == ["step-10", "step-30", "step-40"]
    _save(run, 50, keep=2, protect=[str(run / "checkpoints" / "step-30")])
    assert [p.name for p in list_checkpoints(run)] == ["step-30", "step-40", "step-50"]
    _save(run, 60, keep=None)
    assert [p.name for p in list_checkpoints(run)] == ["step-30", "step-40", "step-50", "step-60"]
    with pytest.raises(ValueError):
        _save(run, 70, keep=0)


def test_existing_step_is_replaced(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _save(run, 5)
    save_checkpoint(
        run,
        5,
        model_state={"w": torch.ones(3)},
        training_state={},
        trainer_state={"step": 5, "again": True},
    )
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-5"]
    model_state, _, trainer_state = load_checkpoint(run / "checkpoints" / "step-5")
    assert trainer_state == {"step": 5, "again": True}
    assert torch.equal(model_state["w"], torch.ones(3))


def test_truncated_file_is_named(tmp_path: Path) -> None:
    path = _save(tmp_path / "run", 20)
    model_file = path / "model.safetensors"
    size = model_file.stat().st_size
    with open(model_file, "r+b") as f:
        f.truncate(size - 7)
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert f"model.safetensors has {size - 7} bytes, expected {size}" in message
    assert isinstance(info.value, PretuneError)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_checkpoint(path)


def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    path = _save(tmp_path / "run", 20)
    target = path / "training_state.pt"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"training_state\.pt does not match its sha256"):
        verify_checkpoint(path)


def test_missing_or_broken_manifest(tmp_path: Path) -> None:
    path = _save(tmp_path / "run", 3)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"manifest\.json is unreadable"):
        verify_checkpoint(path)
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match=r"manifest\.json is missing"):
        verify_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        verify_checkpoint(tmp_path / "run" / "checkpoints" / "step-999")


def test_missing_listed_file(tmp_path: Path) -> None:
    path = _save(tmp_path / "run", 3)
    (path / "trainer_state.json").unlink()
    with pytest.raises(CheckpointError, match=r"trainer_state\.json is missing"):
        verify_checkpoint(path)


def test_latest_intact_falls_back_and_warns_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert latest_intact_checkpoint(run) is None
    _save(run, 10, keep=None)
    _save(run, 20, keep=None)
    newest = _save(run, 30, keep=None)
    (newest / "model.safetensors").write_bytes(b"garbage")
    warnings: list[str] = []
    found = latest_intact_checkpoint(run, warn=warnings.append)
    assert found == run / "checkpoints" / "step-20"
    assert len(warnings) == 1
    assert str(newest) in warnings[0]
    assert "model.safetensors" in warnings[0]
    assert str(found) in warnings[0] and "previous" in warnings[0]


def test_latest_intact_all_corrupted_raises(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for step in (1, 2):
        (_save(run, step) / "manifest.json").unlink()
    warnings: list[str] = []
    with pytest.raises(CheckpointError, match="no intact checkpoint") as info:
        latest_intact_checkpoint(run, warn=warnings.append)
    assert "step-1" in str(info.value) and "step-2" in str(info.value)
    assert warnings == []


def test_tmp_folders_ignored_then_cleaned(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    _save(run, 4)
    leftover = ckpts / ".tmp-step-5-123"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half")
    (ckpts / "step-abc").mkdir()
    (ckpts / "step-7.txt").write_text("not a folder")
    assert [p.name for p in list_checkpoints(run)] == ["step-4"]
    assert latest_intact_checkpoint(run) == ckpts / "step-4"
    _save(run, 6)
    assert not leftover.exists()
    assert [p.name for p in list_checkpoints(run)] == ["step-4", "step-6"]
    assert not any(p.name.startswith(".") for p in ckpts.iterdir())


def test_list_checkpoints_sorts_numerically(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for step in (100, 9, 20):
        _save(run, step, keep=None)
    assert [p.name for p in list_checkpoints(run)] == ["step-9", "step-20", "step-100"]
    assert list_checkpoints(tmp_path / "nothing") == []


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > " + str(Path(os.environ["PRETUNE_EVIL_MARK"])),))


def test_malicious_pickle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mark = tmp_path / "pwned"
    monkeypatch.setenv("PRETUNE_EVIL_MARK", str(mark))
    path = _save(tmp_path / "run", 8)
    torch.save({"optimizer": _Evil()}, path / "training_state.pt")
    # A consistent manifest, so that only weights_only stands between the payload and us.
    _rewrite_manifest_entry(path, "training_state.pt")
    verify_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"training_state\.pt"):
        load_checkpoint(path)
    assert not mark.exists()


def test_rng_capture_restore_reproduces_draws() -> None:
    state = capture_rng_state()
    first = (torch.rand(5), [random.random() for _ in range(5)], np.random.rand(5))
    random.gauss(0, 1)  # leaves a cached gauss_next
    restore_rng_state(state)
    second = (torch.rand(5), [random.random() for _ in range(5)], np.random.rand(5))
    assert torch.equal(first[0], second[0])
    assert first[1] == second[1]
    assert np.array_equal(first[2], second[2])


def test_rng_state_round_trips_weights_only(tmp_path: Path) -> None:
    random.gauss(0, 1)
    np.random.standard_normal()  # populate cached gaussians
    state = capture_rng_state()
    expected = (
        torch.randn(4),
        random.gauss(0, 1),
        random.random(),
        np.random.standard_normal(3),
    )
    torch.save(state, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    restore_rng_state(loaded)
    got = (torch.randn(4), random.gauss(0, 1), random.random(), np.random.standard_normal(3))
    assert torch.equal(expected[0], got[0])
    assert expected[1] == got[1] and expected[2] == got[2]
    assert np.array_equal(expected[3], got[3])
