"""Techniques: named, composable changes to training (see `base.py` for the interface).

Importing this package registers every technique in `TECHNIQUES`.
"""

from pretune.techniques import ema, freeze
from pretune.techniques.base import Technique
from pretune.techniques.registry import TECHNIQUES, build_techniques

__all__ = ["TECHNIQUES", "Technique", "build_techniques", "ema", "freeze"]
