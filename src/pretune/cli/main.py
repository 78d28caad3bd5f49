"""The `pretune` command line.

    pretune quickstart [key=value ...]
    pretune finetune [config.yaml] [key=value ...] [--resume RUN]
    pretune predict RUN INPUT|- [--output FILE]
    pretune config show RECIPE
    pretune data inspect SOURCE [--tokenizer MODEL] [key=value ...]

A mistake in the input (file, config, data) prints one line starting with `error:` and exits
with code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from pretune.errors import PretuneError

__all__ = ["main"]

RECIPES = ("finetune", "quickstart")


def _split_config_and_overrides(items: Sequence[str]) -> tuple[str | None, list[str]]:
    """`[a.yaml, x=1]` -> ("a.yaml", ["x=1"]); anything else that is not key=value is an error."""
    config, overrides = None, []
    for item in items:
        if "=" in item:
            overrides.append(item)
        elif config is None and item.endswith((".yaml", ".yml")):
            config = item
        else:
            raise PretuneError(
                f"unexpected argument '{item}': give a config file (.yaml) and key=value overrides"
            )
    return config, overrides


def _add_recipe(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(name, help=help, description=help)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    if name == "finetune":
        parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pretune", description="Pre-train, fine-tune, evaluate and explain models."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_recipe(sub, "quickstart", "fine-tune MiniLM on BBC News and print the results")
    _add_recipe(sub, "finetune", "fine-tune a text classifier")

    predict = sub.add_parser("predict", help="label texts with a trained run")
    predict.add_argument("run", type=Path, help="a finished run folder (or a model/ folder)")
    predict.add_argument("input", help="a file (txt/csv/tsv/jsonl/parquet) or - for stdin lines")
    predict.add_argument("--output", type=Path, help="write .csv or .jsonl (default: stdout)")
    predict.add_argument("--text-column", default="text", help="text column of a table input")
    predict.add_argument("--batch-size", type=int, default=64)

    config = sub.add_parser("config", help="show a recipe's resolved config")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", help="print every field with its default and help")
    show.add_argument("recipe", help=f"one of: {', '.join(RECIPES)}")
    show.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")

    data = sub.add_parser("data", help="look at a data source before training")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    inspect = data_sub.add_parser("inspect", help="sizes, labels, lengths, duplicates, overlap")
    inspect.add_argument("source", help="built-in name, file or folder")
    inspect.add_argument("--tokenizer", help="count lengths in tokens of this model (e.g. minilm)")
    inspect.add_argument("args", nargs="*", help="data.* key=value overrides")
    return parser


def _run_recipe(args: argparse.Namespace) -> int:
    from pretune.cli.output import print_finetune_summary
    from pretune.config import load_config
    from pretune.recipes.finetune import run_finetune
    from pretune.recipes.quickstart import QUICKSTART_DEFAULTS

    config_path, overrides = _split_config_and_overrides(args.args)
    resume = getattr(args, "resume", None)
    if resume is not None and (config_path or overrides):
        raise PretuneError(
            "--resume continues a run with its saved config; drop the config file and overrides"
        )
    defaults = QUICKSTART_DEFAULTS if args.command == "quickstart" else None
    cfg = load_config(config_path, overrides, defaults=defaults)
    summary = run_finetune(cfg, resume=resume, recipe=args.command, log=_stderr)
    print_finetune_summary(summary)
    return 0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _config_show(args: argparse.Namespace) -> int:
    from pretune.cli.output import print_config
    from pretune.config import load_config
    from pretune.recipes.quickstart import QUICKSTART_DEFAULTS

    if args.recipe not in RECIPES:
        raise PretuneError(f"unknown recipe '{args.recipe}'; recipes: {', '.join(RECIPES)}")
    config_path, overrides = _split_config_and_overrides(args.args)
    defaults = QUICKSTART_DEFAULTS if args.recipe == "quickstart" else None
    print_config(load_config(config_path, overrides, defaults=defaults))
    return 0


def _data_inspect(args: argparse.Namespace) -> int:
    from pretune.cli.output import inspect_source

    _, overrides = _split_config_and_overrides(args.args)
    inspect_source(args.source, args.tokenizer, overrides)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from pretune.recipes.predict import predict_to

    predict_to(args.run, args.input, args.output, args.text_column, args.batch_size)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "quickstart": _run_recipe,
    "finetune": _run_recipe,
    "predict": _predict,
    "config": _config_show,
    "data": _data_inspect,
}


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Warnings are for the user (e.g. "cannot stratify"), not source excerpts.
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pretune` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Offline by default: a hub name that is not cached must fail fast, not hang.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not args.debug:
        warnings.showwarning = _one_line_warning
    try:
        return COMMANDS[args.command](args)
    except PretuneError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; resume with --resume <run folder> if a checkpoint was written",
              file=sys.stderr)  # fmt: skip
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
