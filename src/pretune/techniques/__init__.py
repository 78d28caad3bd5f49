"""Techniques: named, composable changes to training (see `base.py` for the interface).

Importing this package registers every technique in `TECHNIQUES` (through `builtin.py`, which
imports each technique module; `pretune.techniques.ema` and the others are importable as usual).
"""

import pretune.techniques.builtin  # noqa: F401  (registers every technique)
from pretune.techniques.base import Technique
from pretune.techniques.registry import (
    TECHNIQUES,
    build_techniques,
    check_technique_combination,
)

__all__ = ["TECHNIQUES", "Technique", "build_techniques", "check_technique_combination"]
