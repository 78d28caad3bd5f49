"""One writer per run folder: `run.lock`.

A process that trains into a run folder (a new run, or `--resume`) holds `<run>/run.lock`, a JSON
object `{pid, host, started, boot_id, process_start}`, and removes it when the run ends (finished,
failed or interrupted). A second process that would write into the folder refuses, naming the
owner. A lock whose owner is gone (killed, or the machine rebooted since) is stale: it is taken
over with a message. `read_lock` / `lock_is_live` let listings show a run as running.

The lock file appears whole or not at all: it is written under a temporary name and hard-linked
into place, which fails if a lock exists (two processes cannot both take a free folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pretune.errors import PretuneError

__all__ = [
    "LOCK_FILE",
    "RunInUseError",
    "acquire_run_lock",
    "hold_run_lock",
    "lock_is_live",
    "read_lock",
    "release_run_lock",
    "write_lock_file",
]

LOCK_FILE = "run.lock"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_HELD: set[Path] = set()  # run folders whose lock this process holds (an open session)


class RunInUseError(PretuneError):
    """Another live process is writing into this run folder."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): try again once the other process is done


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux), to tell a live owner
    from a new process that happens to reuse its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after "(comm)"


def _record() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "boot_id": _boot_id(),
        "process_start": _process_start(pid),
    }


def read_lock(run_dir: Path) -> dict[str, Any] | None:
    """The lock record of `run_dir`, or None when it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def lock_is_live(record: dict[str, Any]) -> bool:
    """Whether the owner of a lock record may still be running. A lock from another host is
    assumed live (its process cannot be checked from here)."""
    if record.get("host") != socket.gethostname():
        return True
    if record.get("boot_id") and _boot_id() and record["boot_id"] != _boot_id():
        return False  # written before this machine last booted
    pid = record["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    started = record.get("process_start")
    return not started or _process_start(pid) in (None, started)


def write_lock_file(run_dir: Path) -> bool:
    """Create `run_dir/run.lock` for this process; False if a lock is already there. (A new run
    folder gets its lock before it is renamed into place; `hold_run_lock` then records it.)"""
    path = Path(run_dir) / LOCK_FILE
    tmp = path.with_name(f".{LOCK_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_record()) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def hold_run_lock(run_dir: Path) -> None:
    """Record that this process holds (and will release) the lock of `run_dir`."""
    _HELD.add((Path(run_dir) / LOCK_FILE).resolve())


def _in_use(run_dir: Path, record: dict[str, Any]) -> RunInUseError:
    return RunInUseError(
        f"{run_dir} is in use by process {record['pid']} on {record.get('host')} (since "
        f"{record.get('started')}): one process at a time trains into a run folder; wait for "
        f"it to finish or stop it (if that process is gone, delete {run_dir / LOCK_FILE})"
    )


def acquire_run_lock(run_dir: Path, log: Callable[[str], Any] = print) -> None:
    """Take the lock of `run_dir`, taking over a stale one (with a message); RunInUseError
    if a live process holds it."""
    path = Path(run_dir) / LOCK_FILE
    for _ in range(5):  # another process may take over the same stale lock at the same time
        if write_lock_file(run_dir):
            hold_run_lock(run_dir)
            return
        record = read_lock(run_dir)
        ours_left_behind = record is not None and record["pid"] == os.getpid()
        if record is not None and path.resolve() in _HELD and ours_left_behind:
            raise _in_use(run_dir, record)  # an open session of this very process
        if record is not None and not ours_left_behind and lock_is_live(record):
            raise _in_use(run_dir, record)
        aside = path.with_name(f".{LOCK_FILE}.stale-{os.getpid()}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            continue  # someone else removed it first: try again
        aside.unlink()
        if record is not None and not ours_left_behind:
            log(
                f"warning: {run_dir} was locked by process {record['pid']} on "
                f"{record.get('host')}, which is no longer running; taking it over"
            )
    raise _in_use(run_dir, read_lock(run_dir) or {"pid": "?"})


def release_run_lock(run_dir: Path) -> None:
    """Remove `run_dir/run.lock` if this process holds it."""
    path = Path(run_dir) / LOCK_FILE
    _HELD.discard(path.resolve())
    record = read_lock(run_dir)
    if record is not None and record["pid"] == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
