"""What a run may change in its process, captured before and put back after.

A run sets torch's thread count, deterministic mode and seeds, environment variables (through
accelerate), and the verbosity and progress bars of transformers and datasets. A command-line
process ends there, but a caller that uses pretune as a library (a notebook, a test suite, a
search that runs many trials) must get its process back as it was: otherwise one run changes
the next one's numbers, or silences the caller's own logging for good.

    with leaves_process_as_found():
        run_finetune(cfg)

Every recipe the catalog runs is wrapped this way; `ProcessState` is also what the test suite
restores after each test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ProcessState", "capture_process_state", "leaves_process_as_found"]


def _logger_levels() -> dict[str, int]:
    levels = {"": logging.getLogger().level}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):  # skip PlaceHolder entries
            levels[name] = logger.level
    return levels


def _progress_bars() -> dict[str, bool]:
    """Whether transformers' and datasets' global progress bars are on. Both libraries are
    imported here, as every run imports them: their loggers must exist before the run so
    that their levels can be put back."""
    from datasets.utils import logging as ds_logging
    from transformers.utils import logging as hf_logging

    return {
        "transformers": hf_logging.is_progress_bar_enabled(),
        "datasets": ds_logging.is_progress_bar_enabled(),
    }


def _set_progress_bars(bars: dict[str, bool]) -> None:
    import datasets
    from transformers.utils import logging as hf_logging

    (hf_logging.enable_progress_bar if bars["transformers"] else hf_logging.disable_progress_bar)()
    (datasets.enable_progress_bars if bars["datasets"] else datasets.disable_progress_bars)()


@dataclass
class ProcessState:
    """The process-wide settings a run can change."""

    environ: dict[str, str]
    logger_levels: dict[str, int]
    progress_bars: dict[str, bool]
    python_rng: Any
    numpy_rng: Any
    torch: dict[str, Any]

    def restore(self) -> None:
        """Put every captured setting back; loggers created since capture are left alone."""
        if dict(os.environ) != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        for name, level in self.logger_levels.items():
            logging.getLogger(name or None).setLevel(level)
        _set_progress_bars(self.progress_bars)
        random.setstate(self.python_rng)
        import numpy as np

        np.random.set_state(self.numpy_rng)
        _restore_torch(self.torch)


def _capture_torch() -> dict[str, Any]:
    import torch

    return {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }


def _restore_torch(saved: dict[str, Any]) -> None:
    import torch

    if torch.get_num_threads() != saved["threads"]:
        torch.set_num_threads(saved["threads"])
    torch.use_deterministic_algorithms(saved["deterministic"], warn_only=saved["warn_only"])
    torch.set_rng_state(saved["rng"])
    if saved["cuda_rng"] is not None:
        torch.cuda.set_rng_state_all(saved["cuda_rng"])


def capture_process_state() -> ProcessState:
    """A snapshot of the settings a run may change (imports torch and numpy: every run does)."""
    import numpy as np

    progress_bars = _progress_bars()  # first: importing the libraries creates their loggers
    return ProcessState(
        environ=dict(os.environ),
        logger_levels=_logger_levels(),
        progress_bars=progress_bars,
        python_rng=random.getstate(),
        numpy_rng=np.random.get_state(),
        torch=_capture_torch(),
    )


@contextlib.contextmanager
def leaves_process_as_found() -> Iterator[ProcessState]:
    """Run the body, then restore what it changed in the process (also on an exception)."""
    before = capture_process_state()
    try:
        yield before
    finally:
        before.restore()
