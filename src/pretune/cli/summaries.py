"""What `pretune <recipe>` prints when a run ends: the numbers that recipe is judged by.

Table-driven: `HEADLINES` says which section of a recipe's summary holds its headline metrics
and which of them to show; `TABLES` which tables follow (the confusion matrix, per-class
scores, one row per method or task...). `summary_blocks` puts them together with the time taken
and where the run is, the same way for every recipe; `--json` prints the summary itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from pretune.cli.output import Block, Table, duration, emit, fmt, mapping_table

__all__ = ["PRINTERS", "print_generic_summary", "print_run_summary", "summary_blocks"]

_LM = ("validation", ("loss", "accuracy", "perplexity"))

# recipe -> (section of summary.json, the metrics of its headline line, in order)
HEADLINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "quickstart": ("test", ("accuracy", "macro_f1", "count")),
    "finetune": ("test", ("accuracy", "macro_f1", "count")),
    "distill": ("test", ("accuracy", "macro_f1", "count")),
    "multitask": ("test", ("accuracy", "macro_f1", "count")),
    "pretrain": _LM,
    "sft": _LM,
    "images": ("test", ("accuracy", "macro_f1", "loss", "count")),
    "ner": ("test", ("precision", "recall", "f1", "macro_f1", "entities")),
    "qa": ("test", ("exact_match", "f1", "count", "windows")),
}


def _confusion(summary: dict[str, Any]) -> list[Block]:
    matrix = (summary.get("test") or {}).get("confusion_matrix")
    if not matrix:
        return []
    labels = summary["labels"]
    table = Table(["", *labels], title="confusion matrix: rows true, columns predicted")
    table.rows = [[name, *map(str, row)] for name, row in zip(labels, matrix, strict=True)]
    return [table]


def _section_table(
    path: tuple[str, ...], title: str | Callable[..., str], keys: tuple[str, ...] | None = None
):
    """A table of the mapping at `summary[path[0]][path[1]]...` (one row per entry); `title`
    is formatted with the summary's fields (or called with them)."""

    def build(summary: dict[str, Any]) -> list[Block]:
        rows: Any = summary
        for key in path:
            rows = (rows or {}).get(key)
        text = title(**summary) if callable(title) else title.format(**summary)
        return [mapping_table(text, rows, keys)] if rows else []

    return build


def _robustness(summary: dict[str, Any]) -> list[Block]:
    rob = summary.get("robustness")
    if not rob:
        return []
    rows = {
        "clean": {"fgsm_accuracy": rob["clean_accuracy"], "pgd_accuracy": rob["clean_accuracy"]}
    }
    rows.update({f"epsilon {r['epsilon']:g}": r for r in rob["table"]})
    title = f"robustness (L-inf, pixels 0..1; PGD {rob['pgd_steps']} steps)"
    return [mapping_table(title, rows, ("fgsm_accuracy", "pgd_accuracy"))]


def _distill(summary: dict[str, Any]) -> list[Block]:
    d = summary.get("distillation")
    if not d:
        return ["no test split: no student/teacher comparison"]
    test, params, disk, speed, layers = (d[k] for k in ("test", "parameters", "disk_mb", "speed",
                                                       "layers"))  # fmt: skip
    rows = {
        who: {"accuracy": test[f"{who}_accuracy"], "parameters (M)": params[who] / 1e6,
              "disk MB": disk[who], "layers": layers[who],
              "examples/s": speed[f"{who}_examples_per_s"]}
        for who in ("student", "teacher")
    }  # fmt: skip
    return [
        mapping_table(f"student vs teacher ({test['count']} test examples)", rows),
        f"retained {test['retained']:.1%} of the teacher's accuracy, agreement "
        f"{test['agreement']:.1%}, {speed['speedup']:.2f}x faster",
    ]


def _tasks(summary: dict[str, Any]) -> list[Block]:
    rows = {name: {"kind": t["kind"], "weight": t["weight"], **(t.get("test") or {})}
            for name, t in summary["tasks"].items()}  # fmt: skip
    keys = ("kind", "weight", "accuracy", "macro_f1", "loss")
    return [mapping_table("test metrics per task (one model folder per head under model/)",
                          rows, keys)]  # fmt: skip


def _rl(summary: dict[str, Any]) -> list[Block]:
    reward, kl = summary["reward"], summary["kl"]
    rows = {f"training, first {reward['window']} steps": {"reward": reward["first_steps_mean"]},
            f"training, last {reward['window']} steps": {"reward": reward["last_steps_mean"],
                                                         "kl": kl["last_steps_mean"]}}  # fmt: skip
    for key in ("start", "end"):
        if summary["evaluation"].get(key):
            rows[f"held-out prompts, {key}"] = summary["evaluation"][key]
    return [mapping_table(f"reward and KL (max KL {kl['max']:.4f})", rows, ("reward", "kl"))]


def _fewshot_title(shots: int, draws: int, **_: Any) -> str:
    return f"{shots} shots per class, {draws} draw{'' if draws == 1 else 's'}"


_RESULTS = ("accuracy", "macro_f1")
# recipe -> what follows the headline line
TABLES: dict[str, tuple[Callable[[dict[str, Any]], list[Block]], ...]] = {
    "quickstart": (_confusion,),
    "finetune": (_confusion,),
    "images": (_robustness,),
    "ner": (_section_table(("test", "per_class"), "per entity type"),),
    "multitask": (_tasks,),
    "distill": (_distill,),
    "rl": (_rl,),
    "fewshot": (_section_table(("results",), _fewshot_title, _RESULTS),),
    "metalearn": (_section_table(("results",), "held-out {ways_test}-way {shots}-shot", _RESULTS),),
    "zeroshot": (_section_table(("results",), "zero-shot, {test_rows} test rows", _RESULTS),),
}


def _headline(recipe: str, summary: dict[str, Any]) -> list[Block]:
    section, keys = HEADLINES.get(recipe, ("test", ()))
    values = summary.get(section) or {}
    if not keys:  # a recipe without a headline of its own: its first float metrics
        keys = tuple(k for k, v in values.items() if isinstance(v, float))[:6]
    shown = [f"{k.replace('_', ' ')} {fmt(values[k])}" for k in keys if k in values]
    if shown:
        return [f"{section}: " + "   ".join(shown)]
    return [f"no {section} split"] if recipe in HEADLINES else []


def _footer(summary: dict[str, Any]) -> list[Block]:
    timing = summary.get("timing") or {}
    parts = [f"{summary['steps']} steps"] if summary.get("steps") else []
    if timing.get("train_seconds") is not None:
        parts.append(f"training took {duration(timing['train_seconds'])}")
    if timing.get("total_seconds") is not None:
        parts.append(f"{duration(timing['total_seconds'])} in all")
    lines: list[Block] = ["; ".join(parts)] if parts else []
    return [*lines, f"run saved in {summary.get('run_dir', '?')}"]


def summary_blocks(recipe: str, summary: dict[str, Any]) -> list[Block]:
    """The human summary of a finished run of `recipe`: headline, tables, time, folder."""
    blocks = _headline(recipe, summary)
    for build in TABLES.get(recipe, ()):
        blocks.extend(build(summary))
    return blocks + _footer(summary)


def print_run_summary(recipe: str, summary: dict[str, Any], as_json: bool = False) -> None:
    """Print what `pretune <recipe>` prints at the end of a run (`--json`: the summary)."""
    emit(summary, as_json, partial(summary_blocks, recipe))


def print_generic_summary(summary: dict[str, Any]) -> None:
    """A recipe without a row in the tables: its test metrics, then where the run is."""
    print_run_summary("", summary)


# What `pretune <recipe>` prints at the end of a run, by recipe (kept for cli/recipes.py).
PRINTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    name: partial(print_run_summary, name) for name in {*HEADLINES, *TABLES}
}
