"""pretune: pre-train, fine-tune, evaluate and explain models from one config.

    import pretune
    run = pretune.finetune(data="reviews.csv", train={"epochs": 2})

One function per recipe of the catalog (`pretune.finetune`, `pretune.pretrain`, ...) and
`pretune.Run`, loaded on first use: importing pretune imports nothing heavy and changes no
other library's settings (docs/api.md).
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    import sys

    submodule = sys.modules.get(f"{__name__}.{name}")
    if submodule is not None:  # `import pretune.x.y as z` while pretune.x is still importing
        return submodule
    if name.startswith("_"):
        raise AttributeError(f"module 'pretune' has no attribute {name!r}")
    import pretune.api as api

    if name == "Run" or (name in api.__all__ and not name.startswith(("recipe_", "settings_"))):
        return getattr(api, name)
    raise AttributeError(f"module 'pretune' has no attribute {name!r}")


def __dir__() -> list[str]:
    import pretune.api as api

    return sorted(set(globals()) | set(api.__all__))
