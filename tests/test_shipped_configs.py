"""Every YAML shipped in src/pretune/configs parses into a valid RunConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

import pretune
from pretune.config import load_config
from pretune.recipes.quickstart import QUICKSTART_DEFAULTS

CONFIG_DIR = Path(pretune.__file__).parent / "configs"
SHIPPED = sorted(CONFIG_DIR.rglob("*.yaml"))


def test_configs_are_shipped():
    assert len(SHIPPED) >= 2


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_is_valid(path):
    from pretune.recipes.catalog import recipe_spec

    # pretrain_*.yaml use the pre-training schema (objective, pretrain: section).
    schema = recipe_spec("pretrain").schema if path.name.startswith("pretrain") else None
    load_config(path, schema=schema)


def test_quickstart_yaml_matches_the_quickstart_recipe():
    assert load_config(CONFIG_DIR / "quickstart.yaml") == load_config(
        None, defaults=QUICKSTART_DEFAULTS
    )
