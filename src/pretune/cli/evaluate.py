"""`pretune evaluate RUN [data=SOURCE] [name=..] [calibrate=true] [export=..] [human=..]
[attack=fgsm|pgd] [--save | output=DIR]`: prints the metrics; writes files only when asked."""

from __future__ import annotations

import argparse
import difflib
from dataclasses import fields
from pathlib import Path
from typing import Any

from pretune.cli.common import run_must_exist
from pretune.cli.output import Block, Table, add_json_flag, emit, fmt
from pretune.errors import ConfigError

__all__ = ["evaluation_blocks", "parse_options", "register"]

_HELP = """options (key=value):
  data=SOURCE          labelled source to evaluate on (default: the run's own test split)
  text_column=NAME     its text column      label_column=NAME   its label column
  name=NAME            eval/<name>/ folder with --save (default: test, or the source's name)
  output=DIR           write metrics.json and predictions.jsonl into DIR (not the run)
  calibrate=true       fit a temperature on the run's validation split; ECE before and after
  export=review.csv    write a random sample of predictions for people to label (sample=100)
  human=review.csv     read the labelled review file back: agreement with the model
  attack=fgsm|pgd      accuracy under an adversarial attack (epsilon=0.01, steps=5)
  batch_size=64"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="evaluate a finished run on its test split or any labelled source",
        description="Evaluate a finished run: metrics, calibration, error analysis.",
        epilog=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", type=Path, help="a finished run folder")
    # REMAINDER: `--save` may come anywhere among the key=value items (argparse alone refuses
    # items after a flag that follows a `*` positional).
    parser.add_argument("options", nargs=argparse.REMAINDER, help="key=value options (see below)")
    parser.add_argument(
        "--save", action="store_true",
        help="write metrics.json and predictions.jsonl into the run (RUN/eval/NAME/)",
    )  # fmt: skip
    add_json_flag(parser)
    parser.set_defaults(handler=run_must_exist(run))


def _convert(key: str, raw: str, default: Any) -> Any:
    if key in ("export", "human", "output"):
        return Path(raw)
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false"):
            raise ConfigError(f"{key}={raw}: use true or false")
        return raw.lower() == "true"
    for kind in (int, float):
        if isinstance(default, kind):
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(f"{key}={raw}: expected a {kind.__name__}") from None
    return raw


def parse_options(items: list[str]):  # -> EvalOptions
    """`["data=x.csv", "calibrate=true"]` -> EvalOptions; unknown keys name the closest one."""
    from pretune.evaluate.run_eval import EvalOptions

    defaults = EvalOptions()
    known = {f.name for f in fields(EvalOptions)}
    values: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"'{item}' is not key=value (e.g. data=reviews.csv)")
        key, raw = item.split("=", 1)
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown evaluate option '{key}'{hint}; options: {sorted(known)}")
        values[key] = _convert(key, raw, getattr(defaults, key))
    if values.get("attack") not in (None, "fgsm", "pgd"):
        raise ConfigError(f"attack={values['attack']}: choose fgsm or pgd")
    return EvalOptions(**values)


_HEADLINE = ("accuracy", "macro_f1", "mcc", "roc_auc_macro", "pr_auc_macro", "log_loss")


def evaluation_blocks(result: dict[str, Any]) -> list[Block]:
    """The headline numbers as one table, then where the files are (or that none were written)."""
    m, cal = result["metrics"], result["calibration"]
    rows: dict[str, Any] = {key: m[key] for key in _HEADLINE if m.get(key) is not None}
    rows["ECE"] = cal["ece"]
    if cal["temperature"] is not None:
        rows["temperature"], rows["ECE after temperature"] = cal["temperature"], cal["ece_after"]
    if result["skipped_rows"]:
        rows["rows with unknown labels (skipped)"] = result["skipped_rows"]
    human = result.get("human") or {}
    if human:
        rows["reviewed by people"] = human["reviewed"]
        if human["model_human_agreement"] is not None:
            rows["model-human agreement"] = human["model_human_agreement"]
            rows["Cohen's kappa"] = human["kappa"]
    attack = result.get("attack")
    if isinstance(attack, dict):
        rows |= {f"attack {k}": v for k, v in attack.items() if isinstance(v, int | float | str)}
    title = f"{result['run']} on {result['data']} ({result['count']} examples)"
    table = Table(["metric", "value"], [[k, fmt(v)] for k, v in rows.items()], title)
    if result["eval_dir"] is None:
        return [table, "nothing written; --save writes RUN/eval/NAME/, output=DIR elsewhere"]
    return [table, f"wrote {result['eval_dir']}/metrics.json and predictions.jsonl"]


def run(args: argparse.Namespace) -> int:
    from pretune.cli.common import log_line
    from pretune.recipes.evaluate import evaluate_run

    items = list(args.options)
    options = parse_options([item for item in items if item not in ("--save", "--json")])
    options.save = options.save or args.save or "--save" in items
    result = evaluate_run(args.run, options, log=log_line)
    return emit(result, args.json or "--json" in items, evaluation_blocks)
