"""`--quiet` / `--verbose` / PRETUNE_LOG_LEVEL, and pretune leaving transformers' logging as it
found it when used as a library."""

from __future__ import annotations

import logging
import sys

import pytest
from transformers.utils import logging as hf_logging

from helpers import tiny_overrides
from pretune.cli.main import main
from pretune.models.load import load_classifier, load_tokenizer, quiet_transformers


def test_quiet_run_prints_only_the_final_result(capsys, tmp_path, tiny_csv, tiny_bert):
    args = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "train.max_steps=2", "name=run")
    assert main(["finetune", *args]) == 0
    normal = capsys.readouterr()
    assert "step 2/2" in normal.err  # progress goes to stderr normally...
    args[-1] = "name=quiet"
    assert main(["finetune", *args, "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""  # ...and nowhere with --quiet
    # The result (stdout) is still printed: the same seed gives the same test metrics.
    metric_lines = [
        [line for line in out.splitlines() if "accuracy" in line] for out in (normal.out, quiet.out)
    ]
    assert metric_lines[0] == metric_lines[1] != []


def test_quiet_keeps_the_error_line(capsys, monkeypatch):
    monkeypatch.setenv("PRETUNE_LOG_LEVEL", "quiet")
    assert main(["finetune", "train.nosuch=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown config key 'train.nosuch'") and err.count("\n") == 1


def test_verbose_shows_debug_detail_and_the_flag_beats_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("PRETUNE_LOG_LEVEL", "quiet")
    assert main(["config", "show", "finetune", "train.lr=1e-3", "--verbose"]) == 0
    err = capsys.readouterr().err
    assert "DEBUG pretune.catalog: finetune config:" in err and "train.lr=1e-3" in err
    assert main(["config", "show", "finetune"]) == 0  # the variable alone: quiet
    assert capsys.readouterr().err == ""


def test_a_command_leaves_logging_and_stderr_as_it_found_them(capsys):
    logger = logging.getLogger("pretune")
    before = (logger.level, list(logger.handlers), sys.stderr)
    for flag in ("--quiet", "--verbose"):
        assert main([flag, "config", "list"]) == 0
        assert (logger.level, list(logger.handlers), sys.stderr) == before


def test_bad_level_variable_is_one_error_line(capsys, monkeypatch):
    monkeypatch.setenv("PRETUNE_LOG_LEVEL", "loud")
    assert main(["config", "list"]) == 2
    assert capsys.readouterr().err == (
        "error: PRETUNE_LOG_LEVEL=loud: use one of quiet, normal, verbose\n"
    )


@pytest.mark.parametrize("level", [hf_logging.INFO, hf_logging.WARNING])
def test_loading_a_model_leaves_transformers_logging_as_found(tiny_bert, level):
    hf_logging.set_verbosity(level)
    hf_logging.enable_progress_bar()
    load_tokenizer(tiny_bert)
    load_classifier(tiny_bert, ["a", "b", "c"], max_length=32)
    assert hf_logging.get_verbosity() == level
    assert hf_logging.is_progress_bar_enabled()


def test_quiet_while_loading_unless_pretune_logs_debug(monkeypatch):
    hf_logging.set_verbosity(hf_logging.INFO)
    with quiet_transformers():
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert not hf_logging.is_progress_bar_enabled()
    logging.getLogger("pretune").setLevel(logging.DEBUG)  # what --verbose does
    with quiet_transformers():
        assert hf_logging.get_verbosity() == hf_logging.INFO
