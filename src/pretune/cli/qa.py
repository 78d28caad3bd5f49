"""`pretune qa [config.yaml] [key=value ...] [--resume RUN]` trains extractive QA;
`pretune qa predict RUN INPUT|- [--output FILE]` answers {"question", "context"} JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, recipe_config
from pretune.cli.ner import write_lines
from pretune.errors import DataError, PretuneError

__all__ = ["read_questions", "register"]

HELP = "train extractive question answering (SQuAD-style); `qa predict RUN INPUT`"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("qa", help=HELP, description=HELP)
    parser.add_argument(
        "args", nargs="*", help="config.yaml and/or key=value overrides; or: predict RUN INPUT"
    )
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.add_argument("--output", type=Path, help="predict: write JSON lines here")
    parser.set_defaults(handler=run)


def read_questions(source: str) -> list[dict[str, Any]]:
    """{"question", "context"(, "id")} objects, one per line, from a .jsonl file or stdin."""
    name = "stdin" if source == "-" else source
    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{source}: no such file (give a .jsonl file or - for stdin)")
        lines = path.read_text(encoding="utf-8").splitlines()
    items = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{name}:{lineno}: not valid JSON ({exc})") from exc
        if not isinstance(record, dict) or not all(
            isinstance(record.get(k), str) for k in ("question", "context")
        ):
            raise DataError(f'{name}:{lineno}: expected {{"question": ..., "context": ...}}')
        items.append(record)
    return items


def _predict(args: argparse.Namespace) -> int:
    from pretune.recipes.qa import predict_answers

    if len(args.args) != 3:
        raise PretuneError("usage: pretune qa predict RUN INPUT|- [--output FILE]")
    answers = predict_answers(Path(args.args[1]), read_questions(args.args[2]))
    write_lines(answers, args.output)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.args and args.args[0] == "predict":
        return _predict(args)
    from pretune.recipes.qa import run_qa

    cfg = recipe_config("qa", args.args, args.resume)
    summary = run_qa(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    test = summary.get("test") or {}
    if test:
        print(
            f"test: exact match {test['exact_match']:.2f}  F1 {test['f1']:.2f}  "
            f"({test['count']} questions, {test['windows']} windows)"
        )
    print(f"run saved in {summary['run_dir']}")
    return 0
