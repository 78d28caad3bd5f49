"""The recipes the CLI knows: their config schema and their own defaults.

`pretune config show <recipe>` and every recipe command resolve configs through this table, so
a new recipe is one entry here plus its `recipes/<name>.py` and `cli/<name>.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pretune.config import RunConfig
from pretune.errors import ConfigError

__all__ = ["RECIPES", "RecipeSpec", "recipe_spec"]


@dataclass(frozen=True)
class RecipeSpec:
    """A recipe's config class (RunConfig or a subclass) and the defaults it starts from."""

    help: str
    schema: type[RunConfig] = RunConfig
    defaults: dict[str, Any] = field(default_factory=dict)


def _quickstart_defaults() -> dict[str, Any]:
    from pretune.recipes.quickstart import QUICKSTART_DEFAULTS

    return QUICKSTART_DEFAULTS


def _pretrain_spec() -> RecipeSpec:
    from pretune.recipes.pretrain_config import PRETRAIN_DEFAULTS, PretrainConfig

    return RecipeSpec(
        "pre-train a masked (mlm) or causal (clm) language model",
        schema=PretrainConfig,
        defaults=PRETRAIN_DEFAULTS,
    )


RECIPES: dict[str, RecipeSpec] = {
    "finetune": RecipeSpec("fine-tune a text classifier"),
    "pretrain": _pretrain_spec(),
    "quickstart": RecipeSpec(
        "fine-tune MiniLM on BBC News and print the results", defaults=_quickstart_defaults()
    ),
}


def recipe_spec(name: str) -> RecipeSpec:
    """The spec of recipe `name`; ConfigError listing the recipes if unknown."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe '{name}'; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
