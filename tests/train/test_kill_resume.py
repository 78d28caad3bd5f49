"""Kill at any moment, resume exactly.

A tiny fine-tuning run (`pretune finetune`, the real CLI) is SIGKILLed after a random, seeded
delay drawn across the run's measured duration (ten times), or at a chosen write (half a
metrics.jsonl line, inside a checkpoint, before `model/` or `summary.json` is renamed into place,
while a resume rewrites the log); then `--resume` (or, when the kill came before the run folder
existed, the same command again) must end with bit-identical weights and the same metrics.jsonl
as a run never interrupted (CPU, deterministic). Between kill and resume nothing half-written
may be readable: `model/` and every checkpoint load, summary.json parses.

The runs are forked from a server that has imported pretune once (`kill_server.py`): the kills are
real SIGKILLs of real processes, without paying the interpreter start-up for each of them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from helpers import tiny_overrides
from pretune.train.checkpoint import list_checkpoints, verify_checkpoint
from pretune.train.run_lock import LOCK_FILE

# 8 steps, a checkpoint and an evaluation every 2, one log line per step.
STEPS = ("model.max_length=32", "train.max_steps=8", "train.checkpoint_every=2",
         "train.eval_every=2", "train.log_every=1", "train.num_threads=1")  # fmt: skip
TIMING_KEYS = {"examples_per_s", "tokens_per_s"}
RANDOM_KILLS = 10

pytestmark = pytest.mark.slow  # about 40 s of CPU for the fifteen kills and resumes


class KillServer:
    def __init__(self) -> None:
        script = Path(__file__).with_name("kill_server.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv: list[str], log: Path, **kill: Any) -> dict[str, Any]:
        """Run `pretune ARGV` in a forked child; `kill_after=seconds` or `kill_at={...}`."""
        command = {"argv": argv, "log": str(log), "no_report": True, **kill}
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.communicate(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[KillServer]:
    running = KillServer()
    yield running
    running.close()


def _argv(tiny_csv: Path, tiny_bert: Path, out: Path) -> list[str]:
    return ["finetune", *tiny_overrides(tiny_csv, tiny_bert, out, "name=run", *STEPS)]


@pytest.fixture(scope="module")
def reference(server, tiny_csv, tiny_bert, tmp_path_factory) -> tuple[Path, float]:
    """The uninterrupted run, and how long it took (the range the kill delays are drawn from)."""
    out = tmp_path_factory.mktemp("whole")
    done = server.run(_argv(tiny_csv, tiny_bert, out), out / "log.txt")
    assert done["status"] == 0, (out / "log.txt").read_text()
    return out / "run", done["seconds"]


def _records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in lines]


def _assert_nothing_half_written(run: Path, reference: Path) -> None:
    """What a reader finds after the kill is whole: the old or the new, never a mix."""
    if (run / "model").exists():
        weights = load_file(str(run / "model" / "model.safetensors"))
        assert weights.keys() == load_file(str(reference / "model" / "model.safetensors")).keys()
        json.loads((run / "model" / "config.json").read_text())
    if (run / "summary.json").exists():
        json.loads((run / "summary.json").read_text())
    for checkpoint in list_checkpoints(run):
        verify_checkpoint(checkpoint)


def _finish_after_kill(server: KillServer, argv: list[str], run: Path, log: Path) -> None:
    """Whatever the kill left, get to a finished run the way a user would; the run that
    finishes it leaves no lock behind (the killed one's was stale and taken over)."""
    if not (run / "config.yaml").is_file():  # killed before the run folder appeared
        done = server.run(argv, log)
    elif not (run / "summary.json").is_file():
        done = server.run(["finetune", "--resume", str(run)], log)
    else:
        return  # killed after it finished (while writing the report or tidying)
    assert done["status"] == 0, log.read_text()
    assert not (run / LOCK_FILE).exists()


def _assert_same_as_reference(run: Path, reference: Path, log: Path) -> None:
    expected = load_file(str(reference / "model" / "model.safetensors"))
    got = load_file(str(run / "model" / "model.safetensors"))
    differ = [k for k in expected if not bool((expected[k] == got[k]).all())]
    assert not differ, (differ[:3], log.read_text()[-3000:])
    assert _records(run) == _records(reference), log.read_text()[-3000:]


def _kill_and_resume(server, reference, argv: list[str], out: Path, **kill: Any) -> dict:
    log = out / "log.txt"
    killed = server.run(argv, log, **kill)
    run = out / "run"
    _assert_nothing_half_written(run, reference)
    _finish_after_kill(server, argv, run, log)
    _assert_same_as_reference(run, reference, log)
    return killed


@pytest.mark.parametrize("index", range(RANDOM_KILLS))
def test_sigkill_at_a_random_moment_then_resume_matches_an_uninterrupted_run(
    index, server, reference, tiny_csv, tiny_bert, tmp_path
) -> None:
    whole, seconds = reference
    delay = random.Random(18 * 100 + index).uniform(0.0, seconds)
    argv = _argv(tiny_csv, tiny_bert, tmp_path)
    killed = _kill_and_resume(server, whole, argv, tmp_path, kill_after=delay)
    assert killed["status"] in (-9, 0)  # 0: the run ended before its kill moment


# Kills at chosen writes, each a moment a wall-clock delay hits only by luck.
KILL_POINTS = {
    "half a metrics line": {"at": "metrics_line", "nth": 5},
    "inside checkpoint step-4": {"at": "before_replace", "name": "model.safetensors", "nth": 2},
    "before model/ is renamed in": {"at": "before_replace", "name": "model", "nth": 1},
    "before summary.json is renamed in": {"at": "before_replace", "name": "summary.json", "nth": 1},
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_at_a_write_then_resume_matches_an_uninterrupted_run(
    point, server, reference, tiny_csv, tiny_bert, tmp_path
) -> None:
    argv = _argv(tiny_csv, tiny_bert, tmp_path)
    killed = _kill_and_resume(server, reference[0], argv, tmp_path, kill_at=KILL_POINTS[point])
    assert killed["status"] == -9


def test_sigkill_while_a_resume_rewrites_the_log_then_resume_again(
    server, reference, tiny_csv, tiny_bert, tmp_path
) -> None:
    whole = reference[0]
    run, log = tmp_path / "run", tmp_path / "log.txt"
    argv = _argv(tiny_csv, tiny_bert, tmp_path)
    first = server.run(argv, log, kill_at={"at": "metrics_line", "nth": 7})
    assert first["status"] == -9
    # The resume dies right after truncating the log (step 6 logged, checkpoint step-6 not).
    resume = ["finetune", "--resume", str(run)]
    kill_at = {"at": "after_replace", "name": "metrics.jsonl", "nth": 1}
    assert server.run(resume, log, kill_at=kill_at)["status"] == -9
    assert [r["step"] for r in _records(run)][-1] == 4  # truncated to checkpoint step-4, whole
    _finish_after_kill(server, argv, run, log)
    _assert_same_as_reference(run, whole, log)
