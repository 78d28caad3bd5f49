"""`pretune lr-find [config.yaml] [key=value ...] [min_lr=1e-7] [max_lr=1] [steps=100]`."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.cli.common import log_line, split_config_and_overrides
from pretune.cli.output import Block, add_json_flag, emit
from pretune.errors import ConfigError

__all__ = ["SWEEP_KEYS", "register", "split_sweep_options"]

SWEEP_KEYS = {"min_lr": float, "max_lr": float, "steps": int, "find_batch_size": int}


def register(sub: argparse._SubParsersAction) -> None:
    help_text = "sweep the learning rate, plot loss vs LR and suggest a value"
    parser = sub.add_parser(
        "lr-find",
        help=help_text,
        description=f"{help_text}. Writes runs/<name>/lr_find.png and lr_find.json.",
    )
    parser.add_argument(
        "args",
        nargs="*",
        help="config.yaml, key=value overrides, and min_lr=1e-7 max_lr=1 steps=100; "
        "find_batch_size=N first finds the largest batch size <= N that fits in memory",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def split_sweep_options(overrides: list[str]) -> tuple[dict[str, float | int], list[str]]:
    """Pull `min_lr=`, `max_lr=`, `steps=` out of the overrides (the rest are config keys)."""
    options: dict[str, float | int] = {}
    rest = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key in SWEEP_KEYS:
            try:
                options[key] = SWEEP_KEYS[key](float(value))
            except ValueError:
                raise ConfigError(f"lr-find {key}={value!r} is not a number") from None
        else:
            rest.append(item)
    return options, rest


def run(args: argparse.Namespace) -> int:
    from pretune.catalog import load_recipe_config
    from pretune.recipes.lr_find import run_lr_find

    config_path, overrides = split_config_and_overrides(args.args)
    options, overrides = split_sweep_options(overrides)
    cfg = load_recipe_config("finetune", config_path, overrides)
    result = run_lr_find(cfg, log=log_line, **options)  # type: ignore[arg-type]
    return emit(result, args.json, lambda r: _blocks(r, "find_batch_size" in options))


def _blocks(result: dict[str, Any], found_batch_size: bool) -> list[Block]:
    suggested = result["suggested_lr"]
    lines: list[Block] = [
        "no LR where the loss falls: widen the range (min_lr lower, max_lr higher)"
        if suggested is None
        else f"suggested lr: {suggested:.2e}  (train.lr={suggested:.1e})",
        f"loss was lowest at lr {result['min_loss_lr']:.2e}; use about a tenth of that at most",
    ]
    if found_batch_size:
        lines.append(f"largest batch size that fits: {result['batch_size']} (train.batch_size)")
    return [*lines, f"plot: {result['run_dir']}/lr_find.png"]
