"""The Python API made from the catalog: one function per recipe, `Run`, and the docs example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pretune
from pretune.api import settings_to_overrides
from pretune.catalog import RECIPES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_recipe_has_a_function() -> None:
    import pretune.api as api

    for name in RECIPES:
        function = getattr(api, name.replace("-", "_"))
        assert callable(function) and name in function.__doc__
        if not (Path(pretune.__file__).parent / name).is_dir():  # `pretune.rl` is a package
            assert getattr(pretune, name) is function


def test_settings_become_overrides() -> None:
    overrides = settings_to_overrides({
        "data": "x.csv", "train": {"lr": 3e-5, "epochs": 2}, "model__max_length": 64,
        "techniques": {"ema": {"decay": 0.9}, "lora": True}, "seed": 1,
    })  # fmt: skip
    assert overrides == ["data.source=x.csv", "train.lr=3.0e-05", "train.epochs=2",
                         "model.max_length=64", "techniques.ema.decay=0.9",
                         "techniques.lora={}", "seed=1"]  # fmt: skip


def test_the_docs_example_runs(tiny_csv: Path, tiny_bert: Path, tmp_path: Path, capsys) -> None:
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    code = (code.replace('"other_reviews.csv"', repr(str(tiny_csv)))
            .replace('"reviews.csv"', repr(str(tiny_csv)))
            .replace('"minilm"', repr(str(tiny_bert)))
            .replace('"runs"', repr(str(tmp_path)))
            .replace('"max_length": 128', '"max_length": 32')
            .replace('"epochs": 2, "lr": 5e-5',
                     '"max_steps": 30, "lr": 3e-3, "num_threads": 1'))  # fmt: skip
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    run = namespace["run"]
    assert run.recipe == "finetune" and (run.path / "model").is_dir()
    assert run.summary["steps"] == 30 and len(run.metrics) > 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[0] in {"money", "sport", "tech"}
    accuracy = namespace["other"]["metrics"]["accuracy"]
    assert accuracy == run.evaluate(tiny_csv)["metrics"]["accuracy"] > 0.5


def test_importing_pretune_changes_no_other_library_settings() -> None:
    script = (
        "import logging, torch, transformers\n"
        "def state():\n"
        "    levels = {n: l.level for n, l in logging.Logger.manager.loggerDict.items()"
        " if isinstance(l, logging.Logger)}\n"
        "    return levels, logging.getLogger().level, torch.get_num_threads(),"
        " transformers.utils.logging.get_verbosity()\n"
        "before = state()\n"
        "import pretune, pretune.api, pretune.cli.main\n"
        "pretune.finetune\n"
        "after = state()\n"
        "assert {k: after[0].get(k) for k in before[0]} == before[0], 'logger levels'\n"
        "assert after[1:] == before[1:], (before[1:], after[1:])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_docs_recipe_list_is_the_catalog() -> None:
    from pretune.catalog import recipes_table

    listed = (DOCS.parent / "recipes.md").read_text()
    assert recipes_table() in listed
