"""`pretune config list` and `pretune config write NAME [PATH]` (and their Python functions):
the shipped YAML files, named and copied out to edit, never over the user's own copy."""

from __future__ import annotations

import pytest
import yaml

from pretune.catalog import (
    CONFIG_DIR,
    load_recipe_config,
    shipped_configs,
    write_shipped_config,
)
from pretune.cli.main import main
from pretune.errors import ConfigError


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_list_names_every_shipped_yaml_with_a_description(capsys):
    assert main(["config", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines}
    assert set(listed) == {p.stem for p in CONFIG_DIR.rglob("*.yaml")}
    assert listed["finetune_csv"] == "A template for your own labelled CSV"
    assert listed["finetune"] == "defaults of `pretune finetune`: fine-tune a text classifier"


def test_write_copies_the_file_and_it_runs_as_a_config(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["config", "write", "finetune_csv"]) == 0
    written = tmp_path / "finetune_csv.yaml"
    assert capsys.readouterr().out.strip() == "finetune_csv.yaml"
    assert written.read_text() == (CONFIG_DIR / "finetune_csv.yaml").read_text()
    recipe = yaml.safe_load(written.read_text())["recipe"]
    assert load_recipe_config(recipe, written).data.source == "data/reviews.csv"


def test_write_refuses_to_overwrite_without_force(capsys, tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("recipe: finetune\ntrain:\n  epochs: 7\n")
    assert main(["config", "write", "finetune", str(target)]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and str(target) in lines[0] and "--force" in lines[0]
    assert "epochs: 7" in target.read_text()  # the user's copy is untouched
    assert main(["config", "write", "finetune", str(target), "--force"]) == 0
    assert target.read_text() == (CONFIG_DIR / "recipes" / "finetune.yaml").read_text()


def test_write_into_a_folder_and_by_file_name(tmp_path):
    target = write_shipped_config("pretrain_mlm.yaml", tmp_path)
    assert target == tmp_path / "pretrain_mlm.yaml"
    assert load_recipe_config("pretrain", target).objective == "mlm"


def test_unknown_name_and_missing_folder_are_one_error_line(capsys, tmp_path):
    assert main(["config", "write", "finetune_tsv"]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "finetune_csv" in lines[0] and "config list" in lines[0]
    assert main(["config", "write", "finetune", str(tmp_path / "no" / "x.yaml")]) == 2
    assert "does not exist" in error_lines(capsys.readouterr().err)[0]


def test_python_functions_match_the_command(tmp_path):
    names = [config.name for config in shipped_configs()]
    assert names[:3] == ["finetune_csv", "pretrain_clm", "pretrain_mlm"]
    write_shipped_config("qa", tmp_path / "qa.yaml")
    with pytest.raises(ConfigError, match="already exists"):
        write_shipped_config("qa", tmp_path / "qa.yaml")
    assert write_shipped_config("qa", tmp_path / "qa.yaml", force=True).is_file()
