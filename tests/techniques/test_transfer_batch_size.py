"""The batch-size finder halves on out-of-memory and lets other errors through."""

from __future__ import annotations

import pytest
import torch

from pretune.errors import ConfigError
from pretune.train.batch_size import find_batch_size, is_out_of_memory


def _fits_up_to(limit: int, tried: list[int], error=RuntimeError):
    def step(size: int) -> None:
        tried.append(size)
        if size > limit:
            raise error("CUDA out of memory. Tried to allocate 2.00 GiB")

    return step


def test_halves_until_the_step_fits() -> None:
    tried: list[int] = []
    assert find_batch_size(_fits_up_to(40, tried), 256, log=lambda _: None) == 32
    assert tried == [256, 128, 64, 32]


def test_torch_out_of_memory_error_is_recognised() -> None:
    tried: list[int] = []
    step = _fits_up_to(16, tried, error=torch.OutOfMemoryError)
    assert find_batch_size(step, 64, log=lambda _: None) == 16
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_other_errors_propagate() -> None:
    def broken(size: int) -> None:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        find_batch_size(broken, 8, log=lambda _: None)


def test_nothing_fits_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"even train\.batch_size=2"):
        find_batch_size(_fits_up_to(1, []), 8, minimum=2, log=lambda _: None)
