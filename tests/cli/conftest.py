"""A runs folder with real tiny runs, shared by the CLI output tests (built once per session)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pretune.cli.main import main
from pretune.run_list import LOCK_FILE
from recipe_setups import SETUPS, TinyFiles


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(scope="session")
def runs_root(tiny_csv, tiny_bert, tmp_path_factory) -> Path:
    """finetune `ft` and few-shot `fs` trained for real; `cut` (a copy of ft's config alone:
    interrupted), `live` (its run.lock names this process) and `stale` (its run.lock names a
    process that has ended). Start times: ft oldest, then fs, cut, live, stale."""
    root = tmp_path_factory.mktemp("runs-list")
    recipe, overrides = SETUPS["finetune"](TinyFiles(root, tiny_csv, tiny_bert, tiny_bert))
    assert main([recipe, *overrides, f"output_dir={root}", "name=ft", "train.epochs=1"]) == 0
    assert main(["fewshot", f"data.source={tiny_csv}", f"model.init_from={tiny_bert}",
                 f"output_dir={root}", "name=fs", "model.max_length=32", "shots=2",
                 "draws=1"]) == 0  # fmt: skip
    for name in ("cut", "live", "stale"):
        (root / name).mkdir()
        shutil.copy(root / "ft" / "config.yaml", root / name / "config.yaml")
    # Records as the trainer writes them (train/run_lock.py): this process, then a dead one.
    live = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    (root / "live" / LOCK_FILE).write_text(live)
    stale = json.dumps({"pid": _dead_pid(), "host": socket.gethostname()})
    (root / "stale" / LOCK_FILE).write_text(stale)
    (root / "not-a-run").mkdir()  # no config.yaml: not listed
    for age, name in enumerate(("stale", "live", "cut", "fs", "ft")):
        config = root / name / "config.yaml"  # its time is when the run started
        stamp = os.path.getmtime(config) - 600 * age
        os.utime(config, (stamp, stamp))
    return root
