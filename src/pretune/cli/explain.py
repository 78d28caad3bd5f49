"""`pretune explain RUN text="..." | file=TEXTS.txt [method=ig|shap|lime|all] [global=true]
[--save | output=PAGE.html]`.

Prints, for each text, the predicted label, its probability and the words that drove it (per
method). The run folder is left as it is unless `--save` is given: then one self-contained
page is written to `RUN/explain/index.html` and the run's report links it (`output=` writes
the page elsewhere): coloured word attributions per method, attention maps per layer and head,
attention rollout, and with `global=true` the extracted rules and the most influential words
per class (`data=` picks the texts; default the run's own validation and test rows).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, run_must_exist
from pretune.cli.output import add_json_flag, emit
from pretune.errors import ConfigError

__all__ = ["explanation_blocks", "parse_explain_args", "register"]

KEYS = ("text", "file", "method", "output", "global", "data", "limit", "ig_texts")


def register(sub: argparse._SubParsersAction) -> None:
    text = "explain a run's predictions (attributions, attention, global rules)"
    parser = sub.add_parser("explain", help=text, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("run_dir", type=Path, help="a finished run folder")
    # REMAINDER: `--save` may come anywhere among the key=value items (argparse alone refuses
    # items after a flag that follows a `*` positional).
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="text=, file=, method=, global=, data=, output=")  # fmt: skip
    parser.add_argument(
        "--save", action="store_true",
        help="write the page into the run (RUN/explain/index.html) and link it from its report",
    )  # fmt: skip
    add_json_flag(parser)
    parser.set_defaults(handler=run_must_exist(run, "run_dir"))


def parse_explain_args(items: list[str]) -> dict[str, str | list[str]]:
    """key=value items into settings; `text=` may repeat."""
    settings: dict[str, str | list[str]] = {"text": []}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS:
            raise ConfigError(
                f"unexpected argument '{item}'; give {', '.join(k + '=' for k in KEYS)}"
            )
        if key == "text":
            settings["text"].append(value)  # type: ignore[union-attr]
        else:
            settings[key] = value
    return settings


def _int(settings: dict, key: str, default: int) -> int:
    try:
        return int(str(settings.get(key, default)))
    except ValueError:
        raise ConfigError(f"{key}={settings[key]} must be a whole number") from None


def run(args: argparse.Namespace) -> int:
    from pretune.explain.attributions import METHODS
    from pretune.explain.run import explain_run

    items = list(args.args)
    settings = parse_explain_args([item for item in items if item not in ("--save", "--json")])
    save = args.save or "--save" in items
    texts = list(settings["text"])
    if "file" in settings:
        path = Path(str(settings["file"]))
        if not path.is_file():
            raise ConfigError(f"file={path}: not found (one text per line)")
        texts += [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    method = str(settings.get("method", "all"))
    methods = list(METHODS) if method == "all" else method.split(",")
    glob = str(settings.get("global", "false")).lower() in ("1", "true", "yes")
    limit, ig_texts = _int(settings, "limit", 200), _int(settings, "ig_texts", 60)
    explanation = explain_run(
        args.run_dir, texts, methods,
        output=Path(str(settings["output"])) if "output" in settings else None, save=save,
        global_=glob, data=settings.get("data"), limit=limit, ig_texts=ig_texts, log=log_line,  # type: ignore[arg-type]
    )  # fmt: skip
    result = {"texts": explanation.texts, "page": explanation.page}
    return emit(result, args.json or "--json" in items, explanation_blocks)


def explanation_blocks(result: dict[str, Any]) -> list[str]:
    """Per text: the predicted label and probability, then the top words of each method."""
    lines = []
    for item in result["texts"]:
        text = item["text"]
        lines.append(text if len(text) <= 100 else f"{text[:97]}...")
        lines.append(f"  predicted {item['predicted']} (probability {item['probability']:.4f})")
        for method, words in item["top_words"].items():
            shown = ", ".join(f"{word} {score:+.3g}" for word, score in words)
            lines.append(f"  {method} top words: {shown}")
    if result["page"] is None:
        return [
            *lines,
            "nothing written; --save writes the page into the run, output=PAGE.html elsewhere",
        ]
    return [*lines, f"explanations: {result['page']}"]
