"""Every YAML shipped in src/pretune/configs parses with the schema of the recipe it names."""

from __future__ import annotations

import pytest
import yaml

from pretune.catalog import CONFIG_DIR, RECIPES, load_recipe_config

SHIPPED = sorted(CONFIG_DIR.rglob("*.yaml"))


def test_every_recipe_ships_its_defaults() -> None:
    assert {p.stem for p in (CONFIG_DIR / "recipes").glob("*.yaml")} == set(RECIPES)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_shipped_config_is_valid_for_its_recipe(path) -> None:
    recorded = yaml.safe_load(path.read_text())["recipe"]
    cfg = load_recipe_config(recorded, path)
    assert cfg.recipe == recorded


def test_quickstart_is_finetune_with_its_defaults() -> None:
    quickstart = load_recipe_config("quickstart")
    assert quickstart.recipe == "finetune" and quickstart.train.epochs == 1
    assert quickstart.model.max_length == 256 and quickstart.data.source == "bbc"
    assert load_recipe_config("finetune", CONFIG_DIR / "recipes" / "quickstart.yaml") == quickstart
