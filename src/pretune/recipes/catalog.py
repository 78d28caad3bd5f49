"""The recipes the CLI knows: their config schema and their own defaults.

`pretune config show <recipe>` and every recipe command resolve configs through this table, so
a new recipe is one entry here plus its `recipes/<name>.py` and `cli/<name>.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pretune.config import RunConfig
from pretune.errors import ConfigError
from pretune.recipes.rl_config import RL_DEFAULTS, RLConfig
from pretune.recipes.sft_config import SFT_DEFAULTS, SFTConfig

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


def _distill_spec() -> RecipeSpec:
    from pretune.recipes.distill_config import DISTILL_DEFAULTS, DistillConfig

    return RecipeSpec(
        "distil a fine-tuned classifier into a smaller student",
        schema=DistillConfig,
        defaults=DISTILL_DEFAULTS,
    )


def _images_spec() -> RecipeSpec:
    from pretune.recipes.images_config import IMAGE_DEFAULTS, ImageConfig

    return RecipeSpec("classify images or pre-train a ViT (mim)", ImageConfig, IMAGE_DEFAULTS)


RECIPES: dict[str, RecipeSpec] = {
    "finetune": RecipeSpec("fine-tune a text classifier"),
    "pretrain": _pretrain_spec(),
    "images": _images_spec(),
    "ner": __import__("pretune.recipes.ner_config", fromlist=["_"]).ner_spec(),
    "qa": __import__("pretune.recipes.qa_config", fromlist=["_"]).qa_spec(),
    "distill": _distill_spec(),
    "fewshot": __import__("pretune.recipes.fewshot_config", fromlist=["_"]).fewshot_spec(),
    "zeroshot": __import__("pretune.recipes.zeroshot_config", fromlist=["_"]).zeroshot_spec(),
    "metalearn": __import__("pretune.recipes.metalearn_config", fromlist=["_"]).metalearn_spec(),
    "multitask": __import__("pretune.recipes.multitask_config", fromlist=["_"]).multitask_spec(),
    "sft": RecipeSpec("fine-tune a causal LM on prompt/response pairs", SFTConfig, SFT_DEFAULTS),
    "rl": RecipeSpec("RL fine-tuning of a causal LM against a reward", RLConfig, RL_DEFAULTS),
    "quickstart": RecipeSpec(
        "fine-tune MiniLM on BBC News and print the results", defaults=_quickstart_defaults()
    ),
}


def recipe_spec(name: str) -> RecipeSpec:
    """The spec of recipe `name`; ConfigError listing the recipes if unknown."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe '{name}'; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
