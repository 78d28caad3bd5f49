"""`pretune zeroshot [config.yaml] [labels=a,b,c] [method=embedding|cloze] [key=value ...]`."""

from __future__ import annotations

import argparse

from pretune.cli.common import log_line, split_config_and_overrides

__all__ = ["register"]

HELP = "zero-shot classification from label names/descriptions (embeddings or MLM cloze)"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("zeroshot", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.config import load_config
    from pretune.recipes.catalog import recipe_spec
    from pretune.recipes.zeroshot import run_zeroshot

    config_path, overrides = split_config_and_overrides(args.args)
    spec = recipe_spec("zeroshot")
    cfg = load_config(config_path, overrides, defaults=spec.defaults, schema=spec.schema)
    summary = run_zeroshot(cfg, log=log_line)  # type: ignore[arg-type]
    for name, r in summary["results"].items():
        print(f"{name:<30} accuracy {r['accuracy']:.4f}   macro-F1 {r['macro_f1']:.4f}")
    print(f"run saved in {summary['run_dir']}")
    return 0
