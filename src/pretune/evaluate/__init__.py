"""Evaluation: the evaluator, analysis, calibration, robustness.

The streaming metrics it re-exports live in `pretune.metrics` (below tasks and evaluation).
"""

from pretune.metrics import classification as _classification
from pretune.metrics.classification import *  # noqa: F403  (exactly the names of its __all__)

__all__ = list(_classification.__all__)
