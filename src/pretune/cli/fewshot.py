"""`pretune fewshot [config.yaml] shots=8 method=setfit|protonet|logreg draws=5 [key=value ...]`."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.cli.common import log_line, split_config_and_overrides

__all__ = ["print_results", "register"]

HELP = "few-shot classification (SetFit-style tuning, prototypes, logreg) over several draws"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fewshot", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.set_defaults(handler=run)


def print_results(summary: dict[str, Any], what: str) -> None:
    """One line per method/setting: accuracy and macro-F1 as mean ± std."""
    for name, stats in summary["results"].items():
        acc, f1 = stats["accuracy"], stats.get("macro_f1")
        line = f"{name:<28} {what}accuracy {acc['mean']:.4f} ± {acc['std']:.4f}"
        if f1:
            line += f"   macro-F1 {f1['mean']:.4f} ± {f1['std']:.4f}"
        print(line)
    print(f"run saved in {summary['run_dir']}")


def run(args: argparse.Namespace) -> int:
    from pretune.config import load_config
    from pretune.recipes.catalog import recipe_spec
    from pretune.recipes.fewshot import run_fewshot

    config_path, overrides = split_config_and_overrides(args.args)
    spec = recipe_spec("fewshot")
    cfg = load_config(config_path, overrides, defaults=spec.defaults, schema=spec.schema)
    summary = run_fewshot(cfg, log=log_line)  # type: ignore[arg-type]
    print_results(summary, f"{summary['shots']} shots, {summary['draws']} draws: ")
    return 0
