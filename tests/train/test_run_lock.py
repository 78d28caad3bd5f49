"""One writer per run folder (`run.lock`): held while a run trains, refused to a second process,
taken over (with a message) when its owner is gone, removed at the end (also on an error)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import CrashAfterStep, Interrupted, tiny_overrides
from pretune.cli.main import main
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune
from pretune.train.run_lock import (
    LOCK_FILE,
    RunInUseError,
    acquire_run_lock,
    lock_is_live,
    read_lock,
    release_run_lock,
)

STEPS = ("model.max_length=32", "train.max_steps=4", "train.checkpoint_every=2",
         "train.eval_every=2", "train.num_threads=1")  # fmt: skip


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen]:
    """A live process that is not this one (the owner of a lock in use)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def _lock_of(pid: int, **fields: Any) -> dict[str, Any]:
    record = {"pid": pid, "host": socket.gethostname(), "started": "2026-12-02T09:00:00Z"}
    return {**record, **fields}


def _write_lock(folder: Path, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps(record))


def test_a_lock_holds_pid_host_and_start_and_is_released(tmp_path):
    acquire_run_lock(tmp_path)
    record = read_lock(tmp_path)
    assert record is not None and lock_is_live(record)
    assert (record["pid"], record["host"]) == (os.getpid(), socket.gethostname())
    assert record["started"].endswith("Z")
    with pytest.raises(RunInUseError):  # this process's own open run: still one writer
        acquire_run_lock(tmp_path)
    release_run_lock(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_owner_is_refused_naming_folder_and_pid(tmp_path, other_process):
    _write_lock(tmp_path, _lock_of(other_process.pid))
    with pytest.raises(RunInUseError) as caught:
        acquire_run_lock(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path} is in use by process {other_process.pid} on" in message
    assert str(tmp_path / LOCK_FILE) in message
    assert read_lock(tmp_path)["pid"] == other_process.pid  # untouched


def test_a_dead_owner_is_stale_and_taken_over_with_a_message(tmp_path, other_process):
    _write_lock(tmp_path, _lock_of(other_process.pid))
    other_process.kill()
    other_process.wait()
    lines: list[str] = []
    acquire_run_lock(tmp_path, lines.append)
    assert read_lock(tmp_path)["pid"] == os.getpid()
    assert lines == [
        f"warning: {tmp_path} was locked by process {other_process.pid} on "
        f"{socket.gethostname()}, which is no longer running; taking it over"
    ]
    release_run_lock(tmp_path)


def test_a_lock_from_before_the_last_boot_is_stale(tmp_path, other_process):
    # The pid is alive now, but the lock was written before the machine last booted.
    if not Path("/proc/sys/kernel/random/boot_id").exists():
        pytest.skip("no boot id on this system")
    _write_lock(tmp_path, _lock_of(other_process.pid, boot_id="an-earlier-boot"))
    assert not lock_is_live(read_lock(tmp_path))
    acquire_run_lock(tmp_path, lambda _: None)
    assert read_lock(tmp_path)["pid"] == os.getpid()
    release_run_lock(tmp_path)


def test_a_lock_from_another_host_counts_as_live(tmp_path):
    assert lock_is_live(_lock_of(1, host="another-host.example"))


def _config(tiny_csv: Path, tiny_bert: Path, out: Path) -> Any:
    return load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, "name=run", *STEPS))


class _SeeLock:
    """A loop handler that records the lock while the run trains."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.seen: list[dict | None] = []

    def after_step(self, state: Any) -> None:
        self.seen.append(read_lock(self.run))


def test_a_run_holds_its_lock_while_training_and_removes_it_at_the_end(
    tiny_csv, tiny_bert, tmp_path
):
    seen = _SeeLock(tmp_path / "run")
    run_finetune(_config(tiny_csv, tiny_bert, tmp_path), log=lambda _: None,
                 extra_handlers=[seen])  # fmt: skip
    assert [r and (r["pid"], lock_is_live(r)) for r in seen.seen] == [(os.getpid(), True)] * 4
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_failed_run_removes_its_lock_and_resume_takes_it(tiny_csv, tiny_bert, tmp_path):
    with pytest.raises(Interrupted):
        run_finetune(_config(tiny_csv, tiny_bert, tmp_path), log=lambda _: None,
                     extra_handlers=[CrashAfterStep(3)])  # fmt: skip
    run = tmp_path / "run"
    assert not (run / LOCK_FILE).exists()
    seen = _SeeLock(run)
    run_finetune(None, resume=run, log=lambda _: None, extra_handlers=[seen])
    assert [r["pid"] for r in seen.seen] == [os.getpid()] * 2  # steps 3 and 4, after step-2
    assert not (run / LOCK_FILE).exists()


def test_resuming_a_run_in_use_is_refused_by_the_cli(
    tiny_csv, tiny_bert, tmp_path, other_process, capsys
):
    with pytest.raises(Interrupted):
        run_finetune(_config(tiny_csv, tiny_bert, tmp_path), log=lambda _: None,
                     extra_handlers=[CrashAfterStep(3)])  # fmt: skip
    run = tmp_path / "run"
    _write_lock(run, _lock_of(other_process.pid))
    code = main(["finetune", "--resume", str(run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == RunInUseError.exit_code not in (0, 2)
    assert err[-1].startswith(f"error: {run} is in use by process {other_process.pid} on ")
    assert read_lock(run)["pid"] == other_process.pid
