"""`pretune generate RUN "prompt" [max_new_tokens=50 temperature=1.0 top_k=50 top_p=1.0 seed=0
chat=0|1]`; chat (default: on when the run has a chat template, e.g. SFT) returns the reply."""

from __future__ import annotations

import argparse

from pretune.cli.common import run_must_exist
from pretune.cli.output import add_json_flag, emit
from pretune.errors import ConfigError

__all__ = ["register"]

_OPTIONS = {
    "max_new_tokens": int,
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "seed": int,
    "chat": int,  # 1/0: force the chat template on/off (default: on when the run has one)
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="sample text from a causal-LM (clm) run")
    parser.add_argument("run", help="a causal-LM run folder (pretrain objective=clm, sft or rl)")
    parser.add_argument("prompt", help="text to continue")
    parser.add_argument("options", nargs="*", help=f"key=value: {', '.join(_OPTIONS)}")
    add_json_flag(parser)
    parser.set_defaults(handler=run_must_exist(run))


def run(args: argparse.Namespace) -> int:
    from pretune.deploy.generate import generate_text

    options = {}
    for item in args.options:
        key, sep, raw = item.partition("=")
        if not sep or key not in _OPTIONS:
            raise ConfigError(f"unknown generate option '{item}'; options: {', '.join(_OPTIONS)}")
        try:
            options[key] = _OPTIONS[key](raw)
        except ValueError:
            raise ConfigError(f"generate option {key}={raw!r} is not a number") from None
    if "chat" in options:
        options["chat"] = bool(options["chat"])
    result = {"prompt": args.prompt, "text": generate_text(args.run, args.prompt, **options)}
    return emit(result, args.json, lambda r: [r["text"]])
