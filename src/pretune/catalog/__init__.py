"""The recipe catalog: the one table of recipes.

Each entry names a recipe, says in one line what it does, and gives its config schema (composed
from the sections it reads), its own defaults (a YAML file under `configs/recipes/`) and the
function that runs it. The CLI verbs, `pretune config show`, the Python API (`pretune.finetune`,
...) and the docs' list of recipes are all made from this table, so a new recipe is one entry
here, one schema module beside it, and one file under `recipes/`.

The runner is named by its module path and imported only when the recipe runs, as a console
script entry point is: listing recipes or checking a config never imports a recipe (nor torch
for the recipes that need it), and the catalog stays below the layers that open finished runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pretune.catalog.distill import DistillConfig
from pretune.catalog.fewshot import FewshotConfig
from pretune.catalog.finetune import FinetuneConfig
from pretune.catalog.images import ImageConfig
from pretune.catalog.metalearn import MetalearnConfig
from pretune.catalog.multitask import MultitaskConfig
from pretune.catalog.ner import NerConfig
from pretune.catalog.pretrain import PretrainConfig
from pretune.catalog.qa import QaConfig
from pretune.catalog.rl import RLConfig
from pretune.catalog.sft import SFTConfig
from pretune.catalog.zeroshot import ZeroshotConfig
from pretune.config import load_config
from pretune.errors import ConfigError

__all__ = [
    "CONFIG_DIR",
    "RECIPES",
    "Recipe",
    "ShippedConfig",
    "load_recipe_config",
    "load_run_config",
    "recipe",
    "recipes_table",
    "shipped_config",
    "shipped_configs",
    "write_shipped_config",
]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """One catalog entry.

    Attributes:
        name: the CLI verb and Python API function (`pretune.<name>`, `-` read as `_`).
        help: one line, shown by `pretune --help` and in the docs' recipe list.
        schema: the config class (see `config/compose.py`).
        runner: `module:function` of the function that runs it, imported on use.
        trains: whether it trains through the session (resume, several processes, early
            stopping); the others refuse `--resume` and `--nproc` when the config loads.
        shortcuts: bare keys read as keys of the recipe's own section (`pretune distill
            teacher=runs/x` sets `distill.teacher`).
    """

    name: str
    help: str
    schema: type[Any]
    runner: str
    trains: bool = True
    shortcuts: tuple[str, ...] = ()

    def expand_shortcuts(self, overrides: list[str]) -> list[str]:
        """`teacher=x` -> `distill.teacher=x` for the recipe's shortcuts; the rest unchanged."""
        out = []
        for item in overrides:
            key, _, value = item.partition("=")
            out.append(f"{self.schema.RECIPE}.{key}={value}" if key in self.shortcuts else item)
        return out

    @property
    def defaults_file(self) -> Path:
        return CONFIG_DIR / "recipes" / f"{self.name}.yaml"

    def defaults(self) -> dict[str, Any]:
        """The recipe's own defaults (over the schema's), from its YAML file."""
        return yaml.safe_load(self.defaults_file.read_text(encoding="utf-8")) or {}

    def run_function(self) -> Callable[..., dict[str, Any]]:
        module, _, function = self.runner.partition(":")
        return getattr(importlib.import_module(module), function)


def _entry(name: str, schema: type[Any], **kw: Any) -> Recipe:
    """A catalog entry whose help is its schema's one-line doc, run by `recipes/<schema's>`."""
    help_text = kw.pop("help_text", None) or schema.__doc__.strip().rstrip(".")
    if not help_text[:2].isupper():  # "Fine-tune ..." -> "fine-tune ...", but "RL ..." stays
        help_text = help_text[0].lower() + help_text[1:]
    module = schema.RECIPE
    return Recipe(name, help_text, schema, f"pretune.recipes.{module}:run_{module}", **kw)


QUICKSTART = "fine-tune MiniLM on BBC News and print the results"
DISTILL_SHORTCUTS = ("teacher", "student", "temperature", "alpha", "hidden_weight", "cache_teacher")

RECIPES: dict[str, Recipe] = {
    entry.name: entry
    for entry in (
        _entry("quickstart", FinetuneConfig, help_text=QUICKSTART),
        _entry("finetune", FinetuneConfig),
        _entry("pretrain", PretrainConfig),
        _entry("images", ImageConfig),
        _entry("ner", NerConfig),
        _entry("qa", QaConfig),
        _entry("distill", DistillConfig, shortcuts=DISTILL_SHORTCUTS),
        _entry("multitask", MultitaskConfig),
        _entry("sft", SFTConfig),
        _entry("rl", RLConfig),
        _entry("fewshot", FewshotConfig, trains=False),
        _entry("zeroshot", ZeroshotConfig, trains=False),
        _entry("metalearn", MetalearnConfig, trains=False),
    )
}


def recipe(name: str) -> Recipe:
    """The catalog entry `name`; a ConfigError listing the recipes if there is none."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe '{name}'; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def load_recipe_config(
    name: str, path: str | Path | None = None, overrides: list[str] | None = None
) -> Any:
    """The validated config of recipe `name`: its defaults, then the YAML file at `path`,
    then the `key=value` overrides."""
    entry = recipe(name)
    overrides = entry.expand_shortcuts(list(overrides or []))
    logger.debug(
        "%s config: defaults %s, then %s, then overrides %s",
        name, entry.defaults_file, path or "no file", overrides or "none",
    )  # fmt: skip
    return load_config(path, overrides, defaults=entry.defaults(), schema=entry.schema)


def load_run_config(path: Path, overrides: list[str] | None = None) -> Any:
    """A run's saved config.yaml, validated by the schema of the recipe it records."""
    try:
        recorded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the run's config ({exc})") from None
    name = recorded.get("recipe") if isinstance(recorded, dict) else None
    if not name:
        raise ConfigError(
            f"{path} records no recipe (written by an older pretune?): add a first line "
            "`recipe: finetune` (or the recipe that made the run)"
        )
    return load_config(path, overrides, schema=recipe(name).schema)


def recipes_table() -> str:
    """The recipes as a Markdown table (docs/recipes.md is this table; a test keeps it so)."""
    rows = [
        "| recipe | what it does | config | resumable, several processes |",
        "|---|---|---|---|",
    ]
    for entry in RECIPES.values():
        defaults = f"`configs/recipes/{entry.name}.yaml`"
        trains = "yes" if entry.trains else "no"
        rows.append(f"| `pretune {entry.name}` | {entry.help} | {defaults} | {trains} |")
    return "\n".join(rows) + "\n"


# The shipped YAML files live inside the installed package, so a path like
# `src/pretune/configs/...` only works in a checkout: `pretune config list` names them and
# `pretune config write NAME` copies one out to edit.


@dataclass(frozen=True)
class ShippedConfig:
    """One shipped YAML file: `name` is its file name without `.yaml`."""

    name: str
    path: Path
    description: str


def _first_sentence(path: Path) -> str:
    """The first sentence of the file's leading comment block (its one-line description)."""
    comment = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("#").strip())
    text = " ".join(comment)
    end = text.find(". ")
    return (text if end < 0 else text[: end + 1]).rstrip(".")


def shipped_configs() -> list[ShippedConfig]:
    """Every shipped YAML: the templates first, then each recipe's defaults, by name."""
    templates = [
        ShippedConfig(p.stem, p, _first_sentence(p)) for p in sorted(CONFIG_DIR.glob("*.yaml"))
    ]
    defaults = [
        ShippedConfig(entry.name, entry.defaults_file, f"defaults of `pretune {entry.name}`: "
                      f"{entry.help}")
        for entry in sorted(RECIPES.values(), key=lambda e: e.name)
    ]  # fmt: skip
    return templates + defaults


def shipped_config(name: str) -> ShippedConfig:
    """The shipped YAML called `name` (`.yaml` optional); a ConfigError listing them if none."""
    found = {config.name: config for config in shipped_configs()}
    key = name.removesuffix(".yaml")
    if key not in found:
        raise ConfigError(
            f"no shipped config '{name}'; shipped: {', '.join(found)} (`pretune config list`)"
        )
    return found[key]


def write_shipped_config(name: str, path: str | Path | None = None, *, force: bool = False) -> Path:
    """Copy the shipped YAML `name` to `path` (default `./<name>.yaml`; a folder gets
    `<name>.yaml` inside it) and return where it went. An existing file is left alone unless
    `force`: it may be the user's edited copy."""
    config = shipped_config(name)
    target = Path(path) if path is not None else Path(f"{config.name}.yaml")
    if target.is_dir():
        target = target / f"{config.name}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; pass --force (force=True) to overwrite it")
    if not target.parent.is_dir():
        raise ConfigError(f"{target}: the folder {target.parent} does not exist; create it first")
    try:
        target.write_text(config.path.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write the config ({exc.strerror})") from None
    return target
