"""Help, config listing and every config/argument check answer without importing the heavy
libraries (torch, transformers, datasets, scikit-learn): each runs in a fresh process, which
then reports what it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pretune

HEAVY = ("torch", "transformers", "datasets", "sklearn")
SRC = str(Path(pretune.__file__).resolve().parent.parent)

# Runs `main(argv)` (or, with argv ["--every-help"], `--help` of every command) and prints the
# exit codes, the `error:` lines written to stderr, and which heavy libraries ended up in
# sys.modules.
PROBE = f"""
import argparse, contextlib, io, json, sys
from pretune.cli.main import build_parser, main
errors = []
def call(argv):
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    errors.extend(line for line in err.getvalue().splitlines() if line.startswith("error:"))
    return code
argv = sys.argv[1:]
if argv == ["--every-help"]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    codes = [call([command, "--help"]) for command in sub.choices]
else:
    codes = [call(argv)]
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"codes": codes, "errors": errors, "heavy": heavy}}))
"""


def probe(tmp_path: Path, *argv: str) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["finetune", "--help"], 0),
        (["config", "show", "finetune"], 0),
        (["config", "show", "pretrain", "train.schedule=cosine"], 0),
        (["config", "list"], 0),
        (["finetune", "nosuch.csv"], 2),  # not a config file nor key=value
        (["finetune", "missing.yaml"], 2),
        (["finetune", "train.nosuch=1"], 2),  # unknown key
        (["finetune", "train.lr=abc"], 2),  # bad value
        (["finetune", "train.optimizer=adamx"], 2),  # unknown registry name
        (["finetune", "train.loss=focl"], 2),
        (["config", "write", "nosuch"], 2),
        (["quantize", "runs/nosuch"], 2),  # a run folder that does not exist
        (["serve", "runs/nosuch"], 2),
        (["predict", "runs/nosuch", "-"], 2),
        (["evaluate", "runs/nosuch"], 2),
        (["explain", "runs/nosuch", "text=hello"], 2),
        (["generate", "runs/nosuch", "Once"], 2),
        (["export", ".", "opset=x"], 2),  # a bad option value
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else f"exit {value}",
)
def test_checks_import_no_heavy_library(tmp_path, argv, code):
    result = probe(tmp_path, *argv)
    assert result["codes"] == [code] and result["heavy"] == []
    assert len(result["errors"]) == (1 if code == 2 else 0)


# Configs that name techniques: their names, parameters, values and combinations are checked
# against the technique classes, whose modules import torch only where a run needs it.
@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["techniques.ema=true", "techniques.lora.r=4", "train.nosuch=1"], "train.nosuch"),
        (["techniques.layerwise_lr.decay=abc"], "techniques.layerwise_lr.decay must be a number"),
        (["techniques.layerwise_lr.decay=2"], "decay must be in (0, 1]"),  # constructor's check
        (["techniques.layerwise_lr.depth=2"], "unknown parameter(s) depth"),
        (["techniques.distill.teacher=runs/t", "techniques.distill.alpha=x"], "distill.alpha"),
        (["techniques.emma=true"], "unknown technique 'emma'"),
        (["techniques.ema=true", "techniques.swa=true"], "cannot be combined"),
        (["techniques.mixup=true", "techniques.distill.teacher=runs/t"], "cannot be combined"),
        (["techniques.distill=true"], "techniques.distill needs a teacher"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_technique_checks_import_no_heavy_library(tmp_path, argv, named):
    result = probe(tmp_path, "finetune", *argv)
    assert result["codes"] == [2] and result["heavy"] == []
    assert len(result["errors"]) == 1 and named in result["errors"][0]


def test_a_valid_technique_config_imports_no_heavy_library(tmp_path):
    argv = ["techniques.ema.decay=0.99", "techniques.layerwise_lr=true", "techniques.fgm=true"]
    result = probe(tmp_path, "config", "show", "finetune", *argv)
    assert result == {"codes": [0], "errors": [], "heavy": []}


def test_a_technique_not_for_the_task_imports_no_heavy_library(tmp_path):
    result = probe(tmp_path, "ner", "techniques.mixup=true")
    assert result["codes"] == [2] and result["heavy"] == []
    assert len(result["errors"]) == 1 and "does not apply to ner runs" in result["errors"][0]


def test_every_command_help_imports_no_heavy_library(tmp_path):
    result = probe(tmp_path, "--every-help")
    assert len(result["codes"]) > 20 and set(result["codes"]) == {0}
    assert result["errors"] == [] and result["heavy"] == []


def test_the_probe_sees_torch_when_a_check_needs_it(tmp_path):
    # Loss parameters are checked by a dry run of the loss, which needs torch: the probe
    # must report it (otherwise the tests above could not fail).
    result = probe(
        tmp_path, "config", "show", "finetune", "train.loss=focal", "train.loss_params.gamma=-1"
    )
    assert result["codes"] == [2] and "torch" in result["heavy"]


def test_a_yaml_exponent_read_as_text_is_named_with_the_fix(tmp_path):
    # YAML 1.1 reads 1e-5 as text, 1.0e-5 as a number.
    (tmp_path / "text.yaml").write_text("techniques:\n  l1: {strength: 1e-5}\n")
    (tmp_path / "number.yaml").write_text("techniques:\n  l1: {strength: 1.0e-5}\n")
    refused = probe(tmp_path, "config", "show", "finetune", "text.yaml")
    assert refused["codes"] == [2] and refused["heavy"] == []
    assert refused["errors"] == [
        "error: techniques.l1.strength must be a number, got '1e-5'; in YAML write exponents "
        "with a dot (1.0e-5)"
    ]
    assert probe(tmp_path, "config", "show", "finetune", "number.yaml") == {
        "codes": [0], "errors": [], "heavy": []
    }  # fmt: skip
