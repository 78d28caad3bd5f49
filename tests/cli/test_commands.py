"""The informational commands (config show, data inspect) and shared argument errors."""

from __future__ import annotations

import pytest

from helpers import make_rows, write_csv
from pretune.cli.main import main
from pretune.config import RunConfig, describe_fields


def test_config_show_prints_every_field_with_help(capsys):
    assert main(["config", "show", "finetune"]) == 0
    out = capsys.readouterr().out
    for key, _, help_text in describe_fields(RunConfig()):
        assert key in out
        assert help_text.split()[0] in out


def test_config_show_applies_overrides(capsys):
    assert main(["config", "show", "quickstart", "train.lr=7e-5"]) == 0
    assert "7e-05" in capsys.readouterr().out


def test_config_show_unknown_recipe(capsys):
    assert main(["config", "show", "pretrian"]) == 2
    assert "finetune" in capsys.readouterr().err


def test_data_inspect_reports_sizes_labels_and_duplicates(capsys, tmp_path):
    rows = make_rows(20)
    path = write_csv(tmp_path / "d.csv", [*rows, rows[0], rows[1]])  # two exact duplicates
    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "62" in out  # rows
    for label in ("sport", "tech", "money"):
        assert label in out
    assert "duplicate" in out.lower()


@pytest.mark.parametrize(
    "command", ["finetune", "pretrain", "images", "multitask", "ner", "qa", "sft", "rl"]
)
def test_resume_with_overrides_is_refused_not_ignored(command, tmp_path, capsys):
    # The saved config wins on --resume; an override next to it would be silently dropped.
    assert main([command, "--resume", str(tmp_path), "train.lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --resume") and "drop the config file and overrides" in err
