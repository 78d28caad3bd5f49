"""`pretune ner predict RUN INPUT` and `pretune qa predict RUN INPUT`: JSON lines out."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line
from pretune.errors import DataError, PretuneError

__all__ = ["PREDICT_COMMANDS", "read_texts"]


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


def predict_entities_command(args: argparse.Namespace) -> int:
    from pretune.recipes.ner import predict_entities

    if len(args.args) != 3:
        raise PretuneError("usage: pretune ner predict RUN INPUT|- [--output FILE]")
    texts = read_texts(args.args[2])
    entities = predict_entities(Path(args.args[1]), texts)
    write_lines([{"text": t, "entities": e} for t, e in zip(texts, entities, strict=True)],
                args.output)  # fmt: skip
    return 0


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


def predict_answers_command(args: argparse.Namespace) -> int:
    from pretune.recipes.qa import predict_answers

    if len(args.args) != 3:
        raise PretuneError("usage: pretune qa predict RUN INPUT|- [--output FILE]")
    answers = predict_answers(Path(args.args[1]), read_questions(args.args[2]))
    write_lines(answers, args.output)
    return 0


# `pretune <recipe> predict RUN INPUT`, for the recipes that have one.
PREDICT_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ner": predict_entities_command,
    "qa": predict_answers_command,
}
