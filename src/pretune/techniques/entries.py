"""`TECHNIQUES`, the registry every technique module adds its class to.

It lives apart from `registry.py` (which builds and checks a config's techniques and therefore
imports every technique module through `builtin.py`) so that technique modules can register
without importing the module that imports them: no import cycle.
"""

from __future__ import annotations

from typing import Any

from pretune.registry import Registry

__all__ = ["TECHNIQUES"]

TECHNIQUES: Registry[Any] = Registry("technique")
