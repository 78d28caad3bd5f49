"""`pretune explain RUN text="..." | file=TEXTS.txt [method=ig|shap|lime|all] [global=true]`.

Writes one self-contained page, `RUN/explain/index.html` (or `output=`): coloured word
attributions per method, attention maps per layer and head, attention rollout, and with
`global=true` the extracted rules and the most influential words per class (`data=` picks the
texts; default the run's own validation and test rows).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import log_line
from pretune.errors import ConfigError

__all__ = ["parse_explain_args", "register"]

KEYS = ("text", "file", "method", "output", "global", "data", "limit", "ig_texts")


def register(sub: argparse._SubParsersAction) -> None:
    text = "explain a run's predictions (attributions, attention, global rules)"
    parser = sub.add_parser("explain", help=text, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("run_dir", type=Path, help="a finished run folder")
    parser.add_argument("args", nargs="*", help="text=, file=, method=, global=, data=, output=")
    parser.set_defaults(handler=run)


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

    settings = parse_explain_args(list(args.args))
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
    path = explain_run(
        args.run_dir, texts, methods,
        output=Path(str(settings["output"])) if "output" in settings else None,
        global_=glob, data=settings.get("data"), limit=limit, ig_texts=ig_texts, log=log_line,  # type: ignore[arg-type]
    )  # fmt: skip
    print(f"explanations: {path}")
    return 0
