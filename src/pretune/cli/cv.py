"""`pretune cv [config.yaml] [key=value ...] folds=5 [keep_models=true]`."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.cli.output import Block, add_json_flag, emit, mapping_table
from pretune.errors import ConfigError

__all__ = ["cv_blocks", "register", "split_cv_options"]


def register(sub: argparse._SubParsersAction) -> None:
    text = "stratified k-fold cross-validation of a fine-tuning config"
    parser = sub.add_parser("cv", help=text, description=text)
    parser.add_argument(
        "args", nargs="*",
        help="config.yaml and/or key=value overrides, plus folds=N (default 5) and "
        "keep_models=true (keep each fold's model/ as an ensemble)",
    )  # fmt: skip
    add_json_flag(parser)
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


def cv_blocks(result: dict[str, Any]) -> list[Block]:
    """Per-fold metrics, then mean ± std, then where cv.json is."""
    keys = ("accuracy", "macro_f1", "loss")
    rows = {f"fold {f['fold']}": {**f["metrics"], "train_seconds": f["train_seconds"]}
            for f in result["per_fold"]}  # fmt: skip
    mean, std = result["mean"], result["std"]
    rows["mean ± std"] = {k: {"mean": mean[k], "std": std[k]} for k in keys}
    title = f"{result['folds']}-fold cross-validation ({result['rows']} rows)"
    return [mapping_table(title, rows, (*keys, "train_seconds")),
            f"saved {result['cv_dir']}/cv.json"]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from pretune.catalog import load_recipe_config
    from pretune.cli.common import log_line, split_config_and_overrides
    from pretune.recipes.cv import run_cv

    folds, keep, rest = split_cv_options(args.args)
    config_path, overrides = split_config_and_overrides(rest)
    cfg = load_recipe_config("finetune", config_path, overrides)
    result = run_cv(cfg, folds=folds, keep_models=keep, log=log_line)
    return emit(result, args.json, cv_blocks)
