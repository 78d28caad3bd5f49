"""`pretune metalearn [config.yaml] method=protonet|reptile|fomaml shots=2 [key=value ...]`."""

from __future__ import annotations

import argparse

from pretune.cli.common import log_line, split_config_and_overrides

__all__ = ["register"]

HELP = "meta-learning over label subsets, tested on held-out classes"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("metalearn", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.cli.fewshot import print_results
    from pretune.config import load_config
    from pretune.recipes.catalog import recipe_spec
    from pretune.recipes.metalearn import run_metalearn

    config_path, overrides = split_config_and_overrides(args.args)
    spec = recipe_spec("metalearn")
    cfg = load_config(config_path, overrides, defaults=spec.defaults, schema=spec.schema)
    summary = run_metalearn(cfg, log=log_line)  # type: ignore[arg-type]
    print_results(summary, f"held-out {summary['ways_test']}-way {summary['shots']}-shot: ")
    return 0
