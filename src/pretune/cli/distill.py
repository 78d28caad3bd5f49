"""`pretune distill teacher=RUN student=SPEC [config.yaml] [key=value ...]`."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.cli.common import log_line, split_config_and_overrides

__all__ = ["register"]

HELP = "distil a fine-tuned classifier (teacher) into a smaller student"

# Bare keys accepted as shortcuts for the distill: section (teacher=runs/x -> distill.teacher=...).
SHORTCUTS = ("teacher", "student", "temperature", "alpha", "hidden_weight", "cache_teacher")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "distill",
        help=HELP,
        description=HELP + ". Student specs: teacher:layers=3, teacher:layers=0,2,4, "
        "minilm:layers=3, a checkpoint folder, or a preset (tiny, mini, small). "
        "See docs/distillation.md.",
    )
    parser.add_argument(
        "args", nargs="*", help="teacher=RUN student=SPEC, config.yaml and/or key=value overrides"
    )
    parser.set_defaults(handler=run)


def expand_shortcuts(overrides: list[str]) -> list[str]:
    """`teacher=x` -> `distill.teacher=x` (and the other SHORTCUTS); the rest unchanged."""
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        out.append(f"distill.{key}={value}" if key in SHORTCUTS else item)
    return out


def print_distill_summary(summary: dict[str, Any]) -> None:
    """Student vs teacher: accuracy, size and speed."""
    d = summary.get("distillation") or {}
    test, params, disk, speed = d["test"], d["parameters"], d["disk_mb"], d["speed"]
    print(
        f"test accuracy: student {test['student_accuracy']:.4f}   teacher "
        f"{test['teacher_accuracy']:.4f}   retained {test['retained']:.1%}   "
        f"agreement {test['agreement']:.1%} ({test['count']} examples)"
    )
    print(
        f"size: student {params['student'] / 1e6:.1f}M parameters ({disk['student']:.1f} MB), "
        f"teacher {params['teacher'] / 1e6:.1f}M ({disk['teacher']:.1f} MB); "
        f"{d['layers']['student']} vs {d['layers']['teacher']} layers"
    )
    print(
        f"inference: student {speed['student_examples_per_s']:.1f} examples/s, teacher "
        f"{speed['teacher_examples_per_s']:.1f} examples/s: {speed['speedup']:.2f}x faster"
    )
    print(f"run saved in {summary['run_dir']}")


def run(args: argparse.Namespace) -> int:
    from pretune.config import load_config
    from pretune.recipes.catalog import recipe_spec
    from pretune.recipes.distill import run_distill

    config_path, overrides = split_config_and_overrides(args.args)
    spec = recipe_spec("distill")
    cfg = load_config(
        config_path, expand_shortcuts(overrides), defaults=spec.defaults, schema=spec.schema
    )
    summary = run_distill(cfg, log=log_line)  # type: ignore[arg-type]
    if summary.get("distillation"):
        print_distill_summary(summary)
    else:
        print(f"run saved in {summary.get('run_dir')} (no test split: no comparison)")
    return 0
