"""`pretune ner [config.yaml] [key=value ...] [--resume RUN]` trains a NER model;
`pretune ner predict RUN INPUT|- [--output FILE]` prints entity spans as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, recipe_config
from pretune.errors import DataError, PretuneError

__all__ = ["read_texts", "register"]

HELP = "train a named-entity recognizer (token classification); `ner predict RUN INPUT`"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ner", help=HELP, description=HELP)
    parser.add_argument(
        "args", nargs="*", help="config.yaml and/or key=value overrides; or: predict RUN INPUT"
    )
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.add_argument("--output", type=Path, help="predict: write JSON lines here")
    parser.set_defaults(handler=run)


def read_texts(source: str) -> list[str]:
    """Texts to tag: `-` (stdin) or a .txt file, one text per line, or a .jsonl file of
    {"text": ...} objects."""
    if source == "-":
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{source}: no such file (give a .txt/.jsonl file or - for stdin)")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix.lower() != ".jsonl":
        return lines
    texts = []
    for lineno, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataError(f'{path}:{lineno}: expected {{"text": ...}}')
        texts.append(record["text"])
    return texts


def write_lines(records: list[dict[str, Any]], output: Path | None) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        log_line(f"wrote {len(records)} lines to {output}")


def _predict(args: argparse.Namespace) -> int:
    from pretune.recipes.ner import predict_entities

    if len(args.args) != 3:
        raise PretuneError("usage: pretune ner predict RUN INPUT|- [--output FILE]")
    texts = read_texts(args.args[2])
    entities = predict_entities(Path(args.args[1]), texts)
    write_lines([{"text": t, "entities": e} for t, e in zip(texts, entities, strict=True)],
                args.output)  # fmt: skip
    return 0


def print_ner_summary(summary: dict[str, Any]) -> None:
    test = summary.get("test") or {}
    if test:
        print(
            f"test entities: precision {test['precision']:.4f}  recall {test['recall']:.4f}  "
            f"F1 {test['f1']:.4f}  (macro F1 {test['macro_f1']:.4f}, {test['entities']} entities)"
        )
        for kind, s in test["per_class"].items():
            print(
                f"  {kind:<16} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
                f"support {s['support']}"
            )
    print(f"run saved in {summary['run_dir']}")


def run(args: argparse.Namespace) -> int:
    if args.args and args.args[0] == "predict":
        return _predict(args)
    from pretune.recipes.ner import run_ner

    cfg = recipe_config("ner", args.args, args.resume)
    summary = run_ner(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    print_ner_summary(summary)
    return 0
