"""The technique modules shipped with pretune: importing this module registers them all.

Only `registry.py` (and the package `__init__`) import it; technique modules import
`entries.py`, never this, so there is no cycle. A new technique module is added here.
"""

# Imported for their registrations (and re-exported by the package).
import pretune.techniques.adversarial as adversarial
import pretune.techniques.augment as augment
import pretune.techniques.distill as distill
import pretune.techniques.ema as ema
import pretune.techniques.freeze as freeze
import pretune.techniques.gradual_unfreeze as gradual_unfreeze
import pretune.techniques.l1 as l1
import pretune.techniques.layerwise_lr as layerwise_lr
import pretune.techniques.lora as lora
import pretune.techniques.max_norm as max_norm
import pretune.techniques.mixup as mixup
import pretune.techniques.rdrop as rdrop
import pretune.techniques.swa as swa

__all__ = [
    "adversarial",
    "augment",
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
