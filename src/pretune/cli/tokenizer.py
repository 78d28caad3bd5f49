"""`pretune tokenizer train SOURCE [type=wordpiece|bpe|unigram vocab_size=8000 output=DIR ...]`."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from pretune.cli.output import Block, add_json_flag, emit
from pretune.errors import ConfigError

__all__ = ["TRAIN_OPTIONS", "register", "train_from_source"]

# option -> (type, default, help)
TRAIN_OPTIONS: dict[str, tuple[type, Any, str]] = {
    "type": (str, "wordpiece", "wordpiece (BERT), bpe (byte-level, GPT-2) or unigram"),
    "vocab_size": (int, 8000, "vocabulary size, special tokens included"),
    "min_frequency": (int, 2, "pieces seen fewer times are not merged"),
    "lowercase": (bool, True, "lowercase the text first"),
    "output": (str, None, "folder to write (default: tokenizers/<source>-<type>-<vocab_size>)"),
    "text_column": (str, "text", "column holding the text in a file source"),
    "held_out": (float, 0.05, "share of texts kept out of training to measure the tokenizer"),
    "max_length": (int, 512, "model_max_length recorded in the tokenizer"),
    "seed": (int, 0, "seed of the held-out draw"),
}


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("tokenizer", help="train a tokenizer on a text source")
    actions = group.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")
    options = "; ".join(f"{k}={d} ({h})" for k, (_, d, h) in TRAIN_OPTIONS.items())
    train = actions.add_parser(
        "train",
        help="train WordPiece/BPE/Unigram and report coverage on held-out text",
        description=f"options: {options}",
    )
    train.add_argument("source", help="built-in name (bbc), a text/CSV/JSONL file or a folder")
    train.add_argument("options", nargs="*", help="key=value options (see description)")
    add_json_flag(train)
    train.set_defaults(handler=run)


def _parse(items: list[str]) -> dict[str, Any]:
    values = {key: default for key, (_, default, _) in TRAIN_OPTIONS.items()}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in TRAIN_OPTIONS:
            import difflib

            close = difflib.get_close_matches(key, list(TRAIN_OPTIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown tokenizer option '{item}'{hint}; options: " + ", ".join(TRAIN_OPTIONS)
            )
        kind = TRAIN_OPTIONS[key][0]
        try:
            values[key] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
        except ValueError:
            raise ConfigError(f"tokenizer option {key}={raw!r} is not a {kind.__name__}") from None
    if not 0 < values["held_out"] < 1:
        raise ConfigError(f"held_out={values['held_out']} must be between 0 and 1")
    return values


def train_from_source(source: str, options: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Train on `source` minus a held-out slice, save in HF format; returns (folder, report)."""
    from pretune.data.sources import load_source
    from pretune.errors import DataError
    from pretune.tokenization.train import measure_tokenizer, train_tokenizer

    dataset = load_source(
        source, text_column=options["text_column"], label_column=None, encoding_errors="replace"
    )
    texts = (
        [t for t in dataset["text"][:] if t and t.strip()] if "text" in dataset.column_names else []
    )
    if not texts:
        raise DataError(f"{source}: no text to train a tokenizer on (the corpus is empty)")
    random.Random(options["seed"]).shuffle(texts)
    held = int(len(texts) * options["held_out"]) if len(texts) > 1 else 0
    fit_on, held_out = texts[held:], texts[:held] or texts[:1]
    tokenizer = train_tokenizer(
        fit_on,
        options["type"],
        vocab_size=options["vocab_size"],
        min_frequency=options["min_frequency"],
        lowercase=options["lowercase"],
        max_length=options["max_length"],
    )
    report = {
        "source": source,
        "type": options["type"],
        "trained_on_texts": len(fit_on),
        **measure_tokenizer(tokenizer, held_out).to_dict(),
    }
    name = f"{Path(source).stem}-{options['type']}-{options['vocab_size']}"
    output = Path(options["output"] or Path("tokenizers") / name)
    tokenizer.save_pretrained(str(output))
    (output / "tokenizer_report.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return output, report


def run(args: argparse.Namespace) -> int:
    output, report = train_from_source(args.source, _parse(args.options))
    return emit({"output": str(output), **report}, args.json, _blocks)


def _blocks(report: dict[str, Any]) -> list[Block]:
    return [
        f"tokenizer saved in {report['output']} ({report['vocab_size']} tokens, {report['type']})",
        f"held-out slice: {report['texts']} texts, {report['words']} words: unknown-token rate "
        f"{report['unknown_rate']:.4%}, word coverage {report['word_coverage']:.4%}, "
        f"mean tokens/word {report['tokens_per_word']:.3f}",
    ]
