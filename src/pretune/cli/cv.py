"""`pretune cv [config.yaml] [key=value ...] folds=5 [keep_models=true]`."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.errors import ConfigError

__all__ = ["print_cv", "register", "split_cv_options"]


def register(sub: argparse._SubParsersAction) -> None:
    text = "stratified k-fold cross-validation of a fine-tuning config"
    parser = sub.add_parser("cv", help=text, description=text)
    parser.add_argument(
        "args", nargs="*",
        help="config.yaml and/or key=value overrides, plus folds=N (default 5) and "
        "keep_models=true (keep each fold's model/ as an ensemble)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def split_cv_options(items: list[str]) -> tuple[int, bool, list[str]]:
    """Pull `folds=` and `keep_models=` out of the arguments; the rest is the config."""
    folds, keep, rest = 5, False, []
    for item in items:
        key, _, value = item.partition("=")
        if key == "folds":
            try:
                folds = int(value)
            except ValueError:
                raise ConfigError(f"folds={value}: give a whole number, e.g. folds=5") from None
        elif key == "keep_models":
            if value.lower() not in ("true", "false"):
                raise ConfigError(f"keep_models={value}: use true or false")
            keep = value.lower() == "true"
        else:
            rest.append(item)
    return folds, keep, rest


def print_cv(result: dict[str, Any]) -> None:
    """Per-fold metrics, then mean ± std."""
    from rich.console import Console
    from rich.table import Table

    keys = ("accuracy", "macro_f1", "loss")
    table = Table(title=f"{result['folds']}-fold cross-validation ({result['rows']} rows)")
    table.add_column("fold")
    for key in keys:
        table.add_column(key, justify="right")
    table.add_column("train s", justify="right")
    for fold in result["per_fold"]:
        m = fold["metrics"]
        table.add_row(
            str(fold["fold"]), *[f"{m[k]:.4f}" for k in keys], f"{fold['train_seconds']:.0f}"
        )
    mean, std = result["mean"], result["std"]
    table.add_row("mean ± std", *[f"{mean[k]:.4f} ± {std[k]:.4f}" for k in keys], "")
    console = Console()
    console.print(table)
    console.print(f"saved {result['cv_dir']}/cv.json")


def run(args: argparse.Namespace) -> int:
    from pretune.catalog import load_recipe_config
    from pretune.cli.common import log_line, split_config_and_overrides
    from pretune.recipes.cv import run_cv

    folds, keep, rest = split_cv_options(args.args)
    config_path, overrides = split_config_and_overrides(rest)
    cfg = load_recipe_config("finetune", config_path, overrides)
    print_cv(run_cv(cfg, folds=folds, keep_models=keep, log=log_line))
    return 0
