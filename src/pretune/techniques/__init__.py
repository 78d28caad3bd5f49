"""Techniques: named, composable changes to training (see `base.py` for the interface).

Importing this package registers every technique in `TECHNIQUES` (through `builtin.py`).
"""

from pretune.techniques.base import Technique
from pretune.techniques.builtin import (
    adversarial,
    augment,
    distill,
    ema,
    freeze,
    gradual_unfreeze,
    l1,
    layerwise_lr,
    lora,
    max_norm,
    mixup,
    rdrop,
    swa,
)
from pretune.techniques.registry import (
    TECHNIQUES,
    build_techniques,
    check_technique_combination,
)

__all__ = [
    "TECHNIQUES",
    "Technique",
    "adversarial",
    "augment",
    "build_techniques",
    "check_technique_combination",
    "distill",
    "ema",
    "freeze",
    "gradual_unfreeze",
    "l1",
    "layerwise_lr",
    "lora",
    "max_norm",
    "mixup",
    "rdrop",
    "swa",
]
