"""A damaged file in a finished run is named by every command that reads it: exit 2, one
`error:` line naming the file and what to do, no traceback.

One tiny run (with an int8 and an ONNX folder written from it) is trained once for the module;
each case copies it, damages one file and runs one command in-process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.cli.main import main
from pretune.errors import CheckpointError

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def finished(tiny_csv, tiny_bert, tmp_path_factory) -> Path:
    """A finished tiny run with `model-int8/` and `model-onnx/` written by the real commands."""
    from pretune.config import load_config
    from pretune.deploy.export_onnx import export_run
    from pretune.deploy.quantize import quantize_run
    from pretune.recipes.finetune import run_finetune

    out = tmp_path_factory.mktemp("damaged-runs")
    overrides = tiny_overrides(tiny_csv, tiny_bert, out, "name=r", "model.max_length=32",
                               "train.max_steps=6", "train.eval_every=3",
                               # kept, so the remedy "copy checkpoints/best over it" is offered
                               "train.keep_checkpoints_at_end=true")  # fmt: skip
    summary = run_finetune(load_config(None, overrides), log=lambda _: None, live_progress=False)
    run = Path(summary["run_dir"])
    quantize_run(run, max_examples=4, repeats=1)
    export_run(run, check_examples=4)
    return run


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garble(path: Path) -> None:
    """Half the file, then bytes that are not text: unreadable wherever the cut falls (half a
    YAML file alone may still parse)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\xff\xfe")


def delete(path: Path) -> None:
    path.unlink()


def break_label_map(path: Path) -> None:
    """A config.json that reads but whose id2label skips class 1."""
    config = json.loads(path.read_text())
    config["id2label"] = {"0": "money", "2": "tech"}
    path.write_text(json.dumps(config))


# (file damaged, how, the folder commands are given, what the error says to do)
DAMAGE = {
    "weights": ("model/model.safetensors", truncate, ".", "checkpoints/best/model.safetensors"),
    "config.yaml": ("config.yaml", garble, ".", "restore it"),
    "config.json": ("model/config.json", truncate, ".", "re-run training"),
    "label map": ("model/config.json", break_label_map, ".", "id2label"),
    "tokenizer": ("model/tokenizer.json", truncate, ".", "re-run training"),
    "weights missing": ("model/model.safetensors", delete, ".", "checkpoints/best"),
    "summary.json": ("summary.json", truncate, ".", "re-run training"),
    "int8 weights": ("model-int8/model.safetensors", truncate, "model-int8", "pretune quantize"),
    "onnx": ("model-onnx/model.onnx", truncate, "model-onnx", "pretune export"),
    "ensemble.json": ("ens/ensemble.json", truncate, "ens", "pretune ensemble"),
    "ensemble member": ("model/model.safetensors", truncate, "ens", "checkpoints/best"),
}

MODEL_READERS = ("predict", "evaluate", "explain", "serve", "quantize", "export", "prune",
                 "ensemble", "init_from", "distill")  # fmt: skip
READERS = {
    "weights": MODEL_READERS,
    "config.yaml": (*MODEL_READERS[:-2], "distill", "report", "compare"),
    "config.json": MODEL_READERS,
    "label map": (*MODEL_READERS[:-2], "distill"),  # init_from replaces the label map
    "tokenizer": MODEL_READERS,
    "weights missing": ("predict", "init_from"),
    "summary.json": ("report", "compare"),
    "int8 weights": ("predict", "serve"),  # evaluate reads run folders only
    "onnx": ("predict", "serve"),
    "ensemble.json": ("predict",),
    "ensemble member": ("predict",),
}
CASES = [(damage, command) for damage, commands in READERS.items() for command in commands]


def command_line(command: str, target: Path, good: Path, tmp: Path, csv: Path) -> list[str]:
    """The arguments of `pretune <command>` reading `target` (`good`: an undamaged run)."""
    train = ["train.max_steps=1", "model.max_length=32", f"output_dir={tmp / 'out'}"]
    texts = tmp / "texts.txt"
    texts.write_text("the team won the match\nthe bank raised rates\n")
    return {
        "predict": ["predict", str(target), str(texts)],
        "evaluate": ["evaluate", str(target)],
        "explain": ["explain", str(target), "text=the team won", "method=ig"],
        "serve": ["serve", str(target), "port=1"],
        "quantize": ["quantize", str(target), f"output={tmp / 'q'}"],
        "export": ["export", str(target), f"output={tmp / 'o'}"],
        "prune": ["prune", str(target), f"output={tmp / 'p'}"],
        "report": ["report", str(target), "--output", str(tmp / "r.html")],
        "compare": ["compare", str(good), str(target), "--output", str(tmp / "c.html")],
        "ensemble": ["ensemble", str(target), str(good), "--output", str(tmp / "e")],
        "init_from": ["finetune", f"data.source={csv}", f"model.init_from={target}", *train],
        "distill": ["distill", f"data.source={csv}", f"distill.teacher={target}",
                    "distill.student=teacher:layers=1", *train],
    }[command]  # fmt: skip


def copy_run(finished: Path, to: Path) -> Path:
    """A copy of the run without its resumable checkpoints (not read here; smaller)."""
    return Path(shutil.copytree(finished, to, ignore=shutil.ignore_patterns("step-*")))


def write_ensemble(folder: Path, members: list[Path]) -> None:
    folder.mkdir()
    record = {"members": [str(m) for m in members], "labels": ["money", "sport", "tech"]}
    (folder / "ensemble.json").write_text(json.dumps(record))


@pytest.fixture
def no_server(monkeypatch):
    """`pretune serve` must fail while loading; were it to start, the test fails at once."""
    import uvicorn

    def refuse(*_, **__):
        raise AssertionError("the server started on a damaged run")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)


@pytest.mark.parametrize(("damage", "command"), CASES, ids=[f"{d}-{c}" for d, c in CASES])
def test_damaged_file_is_named_by_every_command(
    damage, command, finished, tmp_path, tiny_csv, capsys, no_server
):
    relative, spoil, target, remedy = DAMAGE[damage]
    run = copy_run(finished, tmp_path / "run")
    write_ensemble(run / "ens", [run, finished])
    spoil(run / relative)
    argv = command_line(command, run / target, finished, tmp_path, tiny_csv)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert f"{run / relative} is damaged" in errors[0]
    assert remedy in errors[0]


@pytest.mark.parametrize(
    ("relative", "use"),
    [("model/model.safetensors", lambda run: run.predict(["the team won"])),
     ("summary.json", lambda run: run.summary),
     ("config.yaml", lambda run: run.recipe)],
    ids=["predict", "summary", "recipe"],
)  # fmt: skip
def test_python_api_raises_the_same_error(finished, tmp_path, relative, use):
    from pretune.api import Run

    run = copy_run(finished, tmp_path / "run")
    garble(run / relative)
    with pytest.raises(CheckpointError) as error:
        use(Run(run))
    assert f"{run / relative} is damaged" in str(error.value)


def test_the_suggested_restore_gives_the_same_predictions(finished, tmp_path, capsys):
    """The remedy for damaged weights (copy the best checkpoint over them) really works."""
    from pretune.runs import predict_texts

    run = copy_run(finished, tmp_path / "run")
    truncate(run / "model" / "model.safetensors")
    shutil.copy(run / "checkpoints" / "best" / "model.safetensors", run / "model")
    texts = ["the team won the match", "the bank raised rates"]
    assert (predict_texts(run, texts)[1] == predict_texts(finished, texts)[1]).all()


def test_unreadable_but_intact_folder_is_not_called_damaged(finished, tmp_path):
    """A load failure with every file readable is a bug, raised unchanged (not blamed on a
    file)."""
    from pretune.models.damage import named_damage

    run = copy_run(finished, tmp_path / "run")
    with pytest.raises(RuntimeError, match="a bug"), named_damage(run / "model"):
        raise RuntimeError("a bug")
