"""`pretune images [config.yaml] [key=value ...] [--resume RUN]`: image classification
(model.arch=vit|cnn) or masked-image-modelling pre-training (objective=mim)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, recipe_config

__all__ = ["print_images_summary", "register"]

HELP = "classify images (ViT or CNN) or pre-train a ViT by masked image modelling"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("images", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.set_defaults(handler=run)


def print_images_summary(summary: dict[str, Any]) -> None:
    """Test scores (or the MIM loss), the robustness table and where the run is."""
    test = summary.get("test") or {}
    if summary["task"] == "mim":
        if test:
            print(f"test reconstruction loss (masked patches, MSE): {test['loss']:.4f}")
    elif test:
        print(
            f"test accuracy {test['accuracy']:.4f}   macro F1 {test['macro_f1']:.4f}   "
            f"({test.get('count', '?')} images)"
        )
    robustness = summary.get("robustness")
    if robustness:
        print(f"robustness (L-inf, pixels 0..1; PGD {robustness['pgd_steps']} steps):")
        print(f"  clean           accuracy {robustness['clean_accuracy']:.4f}")
        for row in robustness["table"]:
            print(
                f"  epsilon {row['epsilon']:<7g} FGSM {row['fgsm_accuracy']:.4f}   "
                f"PGD {row['pgd_accuracy']:.4f}"
            )
    timing = summary["timing"]
    print(f"{summary['steps']} steps in {timing['train_seconds']:.1f}s")
    print(f"run saved in {summary['run_dir']}")


def run(args: argparse.Namespace) -> int:
    from pretune.recipes.images import run_images

    cfg = recipe_config("images", args.args, args.resume)
    summary = run_images(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    print_images_summary(summary)
    return 0
