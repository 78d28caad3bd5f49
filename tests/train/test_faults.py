"""I/O faults: a full disk, a missing permission, a read-only or missing output folder, while
writing a checkpoint, the best weights, the metrics log, `model/`, summary.json, the report or
predictions, end in one `error:` line naming the path and what to do (and, while training, the
last intact checkpoint and the `--resume` that continues from it); nothing written before is
lost, and once the fault is gone `--resume` finishes the run exactly."""

from __future__ import annotations

import builtins
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import modeling_utils

from helpers import CrashAfterStep, Interrupted, tiny_overrides
from pretune import files
from pretune.cli.main import main
from pretune.config import load_config
from pretune.files import WriteError, write_error, write_json_atomic
from pretune.recipes.finetune import run_finetune
from pretune.train import checkpoint_files
from pretune.train.checkpoint import list_checkpoints

STEPS = ("model.max_length=32", "train.max_steps=6", "train.checkpoint_every=2",
         "train.eval_every=2", "train.num_threads=1")  # fmt: skip
FULL_DISK = "Error while serializing: I/O error: No space left on device (os error 28) at path"


def _config(tiny_csv: Path, tiny_bert: Path, out: Path, *extra: str) -> Any:
    return load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, "name=run", *STEPS, *extra))


def _train(cfg: Any = None, **options: Any) -> dict:
    return run_finetune(cfg, log=lambda _: None, live_progress=False, **options)


@pytest.fixture(scope="module")
def whole(tiny_csv, tiny_bert, tmp_path_factory) -> Path:
    return Path(_train(_config(tiny_csv, tiny_bert, tmp_path_factory.mktemp("whole")))["run_dir"])


def _weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


def _fail_on(monkeypatch, owner: Any, name: str, when, exc: Exception) -> None:
    """Patch `owner.name` to raise `exc` when `when(*args)` holds (else do what it did)."""
    original = getattr(owner, name, None) or getattr(builtins, name)

    def failing(*args, **kwargs):
        if when(*args):
            raise exc
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing, raising=False)


def test_a_full_disk_during_a_checkpoint_names_it_and_resume_continues_exactly(
    whole, tiny_csv, tiny_bert, tmp_path, monkeypatch
):
    # safetensors reports a full disk as its own error; the step-4 checkpoint hits it.
    _fail_on(monkeypatch, checkpoint_files, "save_file",
             lambda _, path: ".tmp-step-4-" in path, SafetensorError(FULL_DISK))  # fmt: skip
    with pytest.raises(WriteError) as caught:
        _train(_config(tiny_csv, tiny_bert, tmp_path))
    run = tmp_path / "run"
    message = str(caught.value)
    assert f"cannot write {run / 'checkpoints' / 'step-4'}: no space left on device" in message
    assert "MB free" in message and "free some space" in message
    assert f"`pretune finetune --resume {run}` continues from checkpoint step-2" in message
    assert [p.name for p in list_checkpoints(run)] == ["step-2"]  # nothing half-written
    assert not any(p.name.startswith(".tmp") for p in (run / "checkpoints").iterdir())
    assert not (run / "run.lock").exists()  # released on the error

    monkeypatch.undo()  # space freed
    _train(resume=run)
    expected, got = _weights(whole), _weights(run)
    assert all(bool((expected[k] == got[k]).all()) for k in expected)


@pytest.mark.parametrize(
    ("code", "what", "todo"),
    [
        (errno.ENOSPC, "no space left on device", "free some space"),
        (errno.EACCES, "permission denied", "choose a folder you can write to"),
        (errno.EROFS, "the file system is read-only", "choose a folder on a writable disk"),
    ],
)
def test_a_failed_metrics_log_write_names_the_log_and_the_last_checkpoint(
    code, what, todo, tiny_csv, tiny_bert, tmp_path, monkeypatch
):
    log = tmp_path / "run" / "metrics.jsonl"
    calls = {"n": 0}
    from pretune.train.callbacks import MetricsLog

    append = MetricsLog._append

    def fail_after_step_3(self, record):  # steps 1-3 (and the step-2 evaluation) are logged
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError(code, os.strerror(code), str(self.path))
        append(self, record)

    monkeypatch.setattr(MetricsLog, "_append", fail_after_step_3)
    with pytest.raises(WriteError) as caught:
        _train(_config(tiny_csv, tiny_bert, tmp_path, "train.log_every=1"))
    message = str(caught.value)
    assert message.startswith(f"cannot write {log}: {what}")
    assert todo in message and "continues from checkpoint step-2" in message
    assert len(log.read_text().splitlines()) == 4


def test_a_full_disk_while_saving_model_keeps_the_checkpoints(
    tiny_csv, tiny_bert, tmp_path, monkeypatch
):
    _fail_on(monkeypatch, modeling_utils, "safe_save_file",
             lambda *_: True, SafetensorError(FULL_DISK))  # fmt: skip
    with pytest.raises(WriteError) as caught:
        _train(_config(tiny_csv, tiny_bert, tmp_path))
    run = tmp_path / "run"
    assert str(caught.value).startswith(f"cannot write {run / 'model'}: no space left on device")
    assert "continues from checkpoint step-4" in str(caught.value)
    assert not (run / "model").exists() and not list(run.glob(".model.tmp*"))
    assert not (run / "summary.json").exists()  # not finished: --resume is still allowed


def test_a_full_disk_while_writing_the_summary_leaves_none(
    tiny_csv, tiny_bert, tmp_path, monkeypatch
):
    _fail_on(monkeypatch, files, "open", lambda path, *_: "summary.json" in str(path),
             OSError(errno.ENOSPC, "No space left on device"))  # fmt: skip
    with pytest.raises(WriteError) as caught:
        _train(_config(tiny_csv, tiny_bert, tmp_path))
    run = tmp_path / "run"
    assert str(caught.value).startswith(f"cannot write {run / 'summary.json'}: no space left")
    assert "--resume" in str(caught.value)
    assert not list(run.glob("*summary.json*"))  # neither half a summary nor its temp file


def test_a_failed_report_is_a_warning_and_the_run_still_finishes(
    tiny_csv, tiny_bert, tmp_path, monkeypatch
):
    monkeypatch.setattr("pretune.report.render.render_report", lambda run: "<html></html>")
    _fail_on(monkeypatch, files, "open", lambda path, *_: "report.html" in str(path),
             OSError(errno.EACCES, "Permission denied"))  # fmt: skip
    lines: list[str] = []
    summary = run_finetune(_config(tiny_csv, tiny_bert, tmp_path), log=lines.append)
    run = Path(summary["run_dir"])
    assert (run / "summary.json").is_file() and not (run / "report.html").exists()
    warning = [line for line in lines if line.startswith("warning: report.html not written")]
    assert warning == [
        f"warning: report.html not written (cannot write {run / 'report.html'}: permission "
        "denied; choose a folder you can write to, or fix its permissions); retry with "
        f"`pretune report {run}`"
    ]


def _cli(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


def test_an_output_folder_under_a_file_is_one_error_line(tiny_csv, tiny_bert, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "runs"
    code, err = _cli(capsys, "finetune", *tiny_overrides(tiny_csv, tiny_bert, out, *STEPS))
    assert code == WriteError.exit_code != 2
    assert err[-1] == (
        f"error: cannot write {out}: a part of the path is a file, not a folder; choose "
        "another folder, e.g. output_dir=<another folder>"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_error_line(tiny_csv, tiny_bert, tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir(mode=0o555)
    code, err = _cli(capsys, "finetune", *tiny_overrides(tiny_csv, tiny_bert, out, *STEPS))
    assert code == WriteError.exit_code
    assert err[-1].startswith(f"error: cannot write {out}: permission denied")


def test_a_read_only_file_system_is_one_error_line(tiny_csv, tiny_bert, tmp_path, capsys,
                                                   monkeypatch):  # fmt: skip
    # Root ignores permissions: a read-only mount is simulated at the folder creation.
    _fail_on(monkeypatch, Path, "mkdir", lambda path, *_: "runs" in path.parts,
             OSError(errno.EROFS, "Read-only file system"))  # fmt: skip
    out = tmp_path / "runs"
    code, err = _cli(capsys, "finetune", *tiny_overrides(tiny_csv, tiny_bert, out, *STEPS))
    assert code == WriteError.exit_code
    assert err[-1] == (
        f"error: cannot write {out}: the file system is read-only; choose a folder on a "
        "writable disk, e.g. output_dir=<another folder>"
    )


def test_predictions_to_a_missing_folder_are_one_error_line(whole, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("match goal team\n")
    target = tmp_path / "no" / "such" / "predictions.jsonl"
    code, err = _cli(capsys, "predict", str(whole), str(texts), "--output", str(target))
    assert code == WriteError.exit_code
    assert err[-1] == (
        f"error: cannot write {target}: a folder on the way does not exist; create it, or "
        "choose another folder"
    )


def test_json_written_atomically_reads_back_and_a_failure_keeps_the_old(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"steps": 1})
    _fail_on(monkeypatch, files.os, "fsync", lambda *_: True,
             OSError(errno.EIO, "Input/output error"))  # fmt: skip
    with pytest.raises(WriteError, match="Input/output error; check the disk"):
        write_json_atomic(path, {"steps": 2})
    assert json.loads(path.read_text()) == {"steps": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_write_error_names_a_quota_and_says_what_to_do(tmp_path):
    error = write_error(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path / "x", "then retry")
    assert str(error).startswith(f"cannot write {tmp_path / 'x'}: disk quota exceeded (")
    assert str(error).endswith("MB free); free some space, then retry")


def _log_records(run: Path) -> list[dict]:
    timing = {"examples_per_s", "tokens_per_s"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in timing} for row in rows]


def test_resume_before_the_first_checkpoint_starts_again_and_says_so(
    whole, tiny_csv, tiny_bert, tmp_path
):
    cfg = _config(tiny_csv, tiny_bert, tmp_path, "train.log_every=1")
    with pytest.raises(Interrupted):
        _train(cfg, extra_handlers=[CrashAfterStep(1)])
    run = tmp_path / "run"
    assert list_checkpoints(run) == [] and (run / "metrics.jsonl").is_file()
    lines: list[str] = []
    run_finetune(None, resume=run, log=lines.append)
    assert (
        f"resuming {run}: no checkpoint was written before it stopped, so `pretune finetune` "
        "starts it again from the beginning (step 0/6)"
    ) in lines
    expected, got = _weights(whole), _weights(run)
    assert all(bool((expected[k] == got[k]).all()) for k in expected)
    steps = [r["step"] for r in _log_records(run) if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]  # the killed run's step-1 line is not there twice
