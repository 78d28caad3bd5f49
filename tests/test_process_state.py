"""A run leaves its process as it found it (issue: one test changed another's result)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging as hf_logging

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.process_state import ProcessState, capture_process_state
from pretune.recipes.finetune import run_finetune


def _comparable(state: ProcessState, loggers: ProcessState) -> dict:
    # Loggers created since `loggers` was captured (a library imported on the way) keep theirs.
    return {
        "environ": state.environ,
        "levels": {name: state.logger_levels.get(name) for name in loggers.logger_levels},
        "bars": state.progress_bars,
        "python_rng": state.python_rng,
        "numpy_rng": [np.asarray(x).tolist() for x in state.numpy_rng],
        "threads": state.torch["threads"],
        "deterministic": (state.torch["deterministic"], state.torch["warn_only"]),
        "torch_rng": state.torch["rng"].tolist(),
    }


def _change_everything() -> None:
    torch.set_num_threads(1 if torch.get_num_threads() != 1 else 2)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    os.environ["PRETUNE_TEST_VARIABLE"] = "set"
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("some.library").setLevel(logging.CRITICAL)


def test_restore_puts_back_every_setting() -> None:
    logging.getLogger("some.library").setLevel(logging.INFO)
    before = capture_process_state()
    _change_everything()
    assert _comparable(capture_process_state(), before) != _comparable(before, before)
    before.restore()
    assert _comparable(capture_process_state(), before) == _comparable(before, before)


def test_a_finetune_run_leaves_the_process_as_it_found_it(
    tiny_csv: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    # Settings a run would change: another thread count, non-deterministic mode, loud logs.
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(False)
    hf_logging.set_verbosity_info()
    torch.manual_seed(7)
    before = capture_process_state()
    overrides = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "train.max_steps=2",
                               "train.num_threads=1")  # fmt: skip
    summary = run_finetune(load_config(None, overrides), log=lambda *_: None, live_progress=False)
    assert summary["steps"] == 2
    assert _comparable(capture_process_state(), before) == _comparable(before, before)
    assert hf_logging.get_verbosity() == hf_logging.INFO
