"""A tiny fork server for the kill-and-resume test (`test_kill_resume.py`); run as a script.

It imports pretune once, then for each JSON line on stdin forks a child that runs `pretune ARGV`
(the real CLI, in a fresh process as far as training goes), SIGKILLs it after `kill_after`
seconds if that is given and it still runs, and answers one line on stdout: `{"status": ...,
"seconds": ...}` (the exit code, or minus the signal that killed it; the run's duration).
Forking skips the seconds of imports a new interpreter would spend per run, which keeps ten
real wall-clock kills within the test-time budget.

A command may also name a `kill_at` write: the child SIGKILLs itself at that exact point (the
n-th `os.replace` onto a given name, or half-way through the n-th metrics.jsonl line).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time

_PRELOAD = (
    "pretune.cli.main",
    "pretune.recipes.finetune",
    "pretune.evaluate.analysis",
    "torch._dynamo",  # imported by the first optimizer made: seconds
    "accelerate",
    "datasets",
    "sklearn.metrics",
    "transformers.models.bert.modeling_bert",
    "safetensors.torch",
)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(kill_at: dict) -> None:
    """Make the child kill itself at one chosen write (patched here, in the child only)."""
    count = {"n": 0}

    def due() -> bool:
        count["n"] += 1
        return count["n"] == kill_at["nth"]

    if kill_at["at"] == "metrics_line":
        from pretune.train import callbacks

        append = callbacks.MetricsLog._append

        def half_then_die(self, record):
            if not due():
                return append(self, record)
            with self.path.open("a", encoding="utf-8") as handle:
                text = json.dumps(record)
                handle.write(text[: len(text) // 2])
            _die()

        callbacks.MetricsLog._append = half_then_die
        return
    replace = os.replace

    def replace_then_maybe_die(src, dst, *args, **kwargs):
        hit = os.path.basename(os.fspath(dst)) == kill_at["name"] and due()
        if hit and kill_at["at"] == "before_replace":
            _die()
        replace(src, dst, *args, **kwargs)
        if hit and kill_at["at"] == "after_replace":
            _die()

    os.replace = replace_then_maybe_die


def _child(command: dict) -> None:
    log = os.open(command["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from pretune.cli.main import main

    if command.get("kill_at"):
        _arm(command["kill_at"])
    if command.get("no_report"):  # report.html is written atomically too; tested elsewhere
        import pretune.recipes._runner

        pretune.recipes._runner.try_write_report = lambda *args, **kwargs: None
    try:
        code = main(command["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    # What every child would otherwise import again (imports only: no torch op runs before a
    # fork, so no thread pool is copied into a child).
    for module in _PRELOAD:
        importlib.import_module(module)

    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(command)
        started = time.perf_counter()
        status = _wait(pid, command.get("kill_after"))
        seconds = time.perf_counter() - started
        print(json.dumps({"status": status, "seconds": seconds}), flush=True)


def _wait(pid: int, kill_after: float | None) -> int:
    """Wait for the child, SIGKILLing it after `kill_after` seconds if it still runs. The
    server kills, not the test: until the server reaps the child its pid cannot be reused."""
    if kill_after is not None:
        deadline = time.perf_counter() + kill_after
        while time.perf_counter() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    serve()
