"""Techniques: named, composable changes to training (see `base.py` for the interface).

Importing this package registers every technique in `TECHNIQUES`.
"""

from pretune.techniques import (
    adversarial,
    augment,
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
from pretune.techniques.base import Technique
from pretune.techniques.registry import TECHNIQUES, build_techniques

__all__ = [
    "TECHNIQUES",
    "Technique",
    "adversarial",
    "augment",
    "build_techniques",
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
