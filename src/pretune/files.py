"""Writing files and folders so that a reader (or a crash) never sees half of one, turning a
failed write (full disk, no permission, read-only or missing folder) into one clear error, and
reading JSON back.

Every write goes to a temporary name beside its destination, is flushed to disk (fsync), and is
renamed into place (`os.replace`, atomic on POSIX): a process killed at any moment leaves the old
file or the new one. Folders (a checkpoint, `model/`) are written whole under a temporary name and
swapped in by `replace_folder`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pretune.errors import PretuneError

__all__ = [
    "WriteError",
    "atomic_writer",
    "fsync_dir",
    "remove_folder",
    "replace_folder",
    "write_error",
    "write_json_atomic",
    "write_text_atomic",
    "writing",
]


class WriteError(PretuneError):
    """A file or folder could not be written (a fault of the machine, not of the input)."""

    exit_code = 74  # EX_IOERR (sysexits.h): an input/output error, not bad input (2)


# What the user can do about each kind of failed write.
_ADVICE = {
    errno.ENOSPC: ("no space left on device", "free some space"),
    errno.EDQUOT: ("disk quota exceeded", "free some space"),
    errno.EACCES: ("permission denied", "choose a folder you can write to, or fix its permissions"),
    errno.EPERM: ("permission denied", "choose a folder you can write to, or fix its permissions"),
    errno.EROFS: ("the file system is read-only", "choose a folder on a writable disk"),
    errno.ENOENT: ("a folder on the way does not exist", "create it, or choose another folder"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another folder"),
}


def _free_space(path: Path) -> str | None:
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            return f"{shutil.disk_usage(folder).free / 1e6:,.1f} MB free"
    return None


# What to do after fixing a failed write; a callable is asked only when a write fails (finding
# the last intact checkpoint hashes its files: not a price every successful write should pay).
Then = str | Callable[[], str]


def write_error(exc: OSError, path: Path | str | None = None, then: Then = "") -> WriteError:
    """The WriteError for `exc`: names the path, what went wrong and what to do; `then` is
    added (e.g. "then `pretune finetune --resume RUN` continues from checkpoint step-40")."""
    then = then() if callable(then) else then
    target = Path(path if path is not None else exc.filename or "?")
    what, todo = _ADVICE.get(exc.errno or 0, (exc.strerror or str(exc), "check the disk"))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and (free := _free_space(target)):
        what = f"{what} ({free})"
    message = f"cannot write {target}: {what}; {todo}"
    return WriteError(f"{message}, {then}" if then else message)


@contextlib.contextmanager
def writing(path: Path | str | None = None, then: Then = "") -> Iterator[None]:
    """Turn an OSError raised inside into a `write_error` (see there)."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, path, then) from exc


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (renames) to disk; a no-op where the OS does not allow it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(
    path: Path, mode: str = "w", then: Then = "", **open_args: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success it is fsynced and renamed over `path`,
    on failure removed. A failed write raises a WriteError naming `path` (`then`: what to do
    once that is fixed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if "b" not in mode:
        open_args.setdefault("encoding", "utf-8")
    try:
        with writing(path, then):
            with open(tmp, mode, **open_args) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str, then: Then = "") -> None:
    """Write text to a temporary file, fsync, then rename: readers never see half a file. A
    failed write raises a WriteError naming `path` (`then`: what to do after fixing it)."""
    with atomic_writer(path, then=then) as handle:
        handle.write(text)


def write_json_atomic(path: Path, data: Any, then: Then = "") -> None:
    """Write JSON to a temporary file, fsync, then rename: readers never see half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n", then)


def replace_folder(tmp: Path, final: Path) -> None:
    """Rename the complete folder `tmp` to `final`. An existing `final` is moved aside first and
    deleted only once the new one is in place, so a crash leaves one of the two whole, never a
    mix (a leftover `.old-*` folder beside it is what an interrupted swap leaves)."""
    folder = final.parent
    if final.exists():
        old = folder / f".old-{final.name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        fsync_dir(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
        fsync_dir(folder)


def remove_folder(path: Path) -> None:
    """Delete a folder so that it disappears at once: renamed aside (atomic), then deleted; a
    crash mid-way leaves a `.old-*` folder, never a half-deleted one under the real name."""
    if not path.exists():
        return
    aside = path.with_name(f".old-{path.name}-{os.getpid()}")
    os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)
