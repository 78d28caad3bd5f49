"""Run several recipes in a row in each process of a torchrun launch (a helper of
`test_every_recipe_processes.py`, not a test): `torchrun ... run_recipes_in_processes.py SPEC`,
where SPEC is a JSON list of {"recipe", "overrides"}. One launch serves every recipe, so the
processes start once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pretune.catalog import load_recipe_config
from pretune.catalog import recipe as catalog_entry
from pretune.errors import ConfigError


def main(spec: Path) -> int:
    outcomes = {}
    for entry in json.loads(spec.read_text()):
        cfg = load_recipe_config(entry["recipe"], None, entry["overrides"])
        try:
            catalog_entry(entry["recipe"]).run_function()(
                cfg, log=lambda *_: None, live_progress=False
            )
            outcomes[entry["key"]] = "trained"
        except ConfigError as exc:  # a recipe that refuses several processes says so
            outcomes[entry["key"]] = f"refused: {exc}"
    (spec.parent / f"outcomes-{_rank()}.json").write_text(json.dumps(outcomes))
    return 0


def _rank() -> str:
    import os

    return os.environ.get("RANK", "0")


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
