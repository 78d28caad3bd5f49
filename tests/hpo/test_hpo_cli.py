"""`pretune search` / `pretune explain` argument errors: one clear line, exit code 2."""

from __future__ import annotations

from pretune.cli.main import main
from pretune.cli.search import split_search_args


def test_split_search_args():
    settings, rest = split_search_args(["a.yaml", "space=s.yaml", "trials=3", "train.lr=1e-3"])
    assert settings == {"space": "s.yaml", "trials": "3"}
    assert rest == ["a.yaml", "train.lr=1e-3"]


def test_search_bad_space_names_the_key(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("train.lrr: {type: float, low: 1e-5, high: 1e-3}\n")
    assert main(["search", f"space={space}", "trials=1", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "train.lrr" in err and "train.lr" in err and err.startswith("error:")


def test_search_needs_space_and_known_sampler(tmp_path, capsys):
    assert main(["search", "trials=1"]) == 2
    assert "space=" in capsys.readouterr().err
    space = tmp_path / "space.yaml"
    space.write_text("train.lr: {type: float, low: 1e-5, high: 1e-3}\n")
    assert main(["search", f"space={space}", "sampler=bayes"]) == 2
    assert "sampler=bayes" in capsys.readouterr().err
    assert main(["search", f"space={space}", "trials=many"]) == 2
    assert "trials=many" in capsys.readouterr().err
    assert main(["search", f"space={space}", "startup=0", f"output_dir={tmp_path}"]) == 2
    assert "startup=0" in capsys.readouterr().err


def test_explain_errors(tmp_path, capsys):
    assert main(["explain", str(tmp_path), "text=hello"]) == 2
    assert "no model/ folder" in capsys.readouterr().err
    assert main(["explain", str(tmp_path), "colour=red"]) == 2
    assert "unexpected argument 'colour=red'" in capsys.readouterr().err
