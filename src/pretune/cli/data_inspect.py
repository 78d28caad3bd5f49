"""`pretune data inspect SOURCE [--tokenizer MODEL] [key=value ...] [--json]`."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.cli.common import split_config_and_overrides
from pretune.cli.output import Block, Table, add_result_command, emit, fmt, mapping_table

__all__ = ["inspect_source", "inspection_blocks", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    add_result_command(
        sub, "inspect", run, group=("data", "look at a data source before training"),
        help="sizes, labels, lengths, duplicates, overlap",
        arguments=[
            (("source",), {"help": "built-in name, file or folder"}),
            (("--tokenizer",), {"help": "count lengths in tokens of this model (e.g. minilm)"}),
            (("args",), {"nargs": "*", "help": "data.* key=value overrides"}),
        ],
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    _, overrides = split_config_and_overrides(args.args)
    report = inspect_source(args.source, args.tokenizer, overrides)
    return emit(report, args.json, inspection_blocks)


def inspect_source(source: str, tokenizer_name: str | None, overrides: list[str]) -> dict:
    """Load `source` (with data.* overrides) and return its inspection report."""
    from pretune.config import load_config
    from pretune.data.inspect import inspect_dataset
    from pretune.data.sources import load_source
    from pretune.errors import ConfigError

    bad = [item for item in overrides if not item.startswith(("data.", "seed="))]
    if bad:
        raise ConfigError(f"data inspect takes data.* overrides only; got {', '.join(bad)}")
    cfg = load_config(None, [f"data.source={source}", *overrides])
    dataset = load_source(
        source,
        text_column=cfg.data.text_column,
        label_column=cfg.data.label_column,
        encoding_errors=cfg.data.encoding_errors,
    )
    tokenizer = None
    if tokenizer_name:
        from pretune.models.load import load_tokenizer, resolve_model_path

        tokenizer = load_tokenizer(resolve_model_path(tokenizer_name))
    return inspect_dataset(
        dataset,
        tokenizer=tokenizer,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        seed=cfg.seed,
        source_name=source,
    )


def inspection_blocks(report: dict[str, Any]) -> list[Block]:
    """The overview (rows, duplicates, overlap, missing labels), then labels and lengths."""
    rows = [("rows", report["rows"]), ("columns", ", ".join(report["columns"]))]
    rows.append(("empty or missing text", report.get("empty")))
    duplicates = report.get("duplicates") or {}
    rows += [(f"{kind} duplicates", duplicates.get(kind)) for kind in ("exact", "normalized")]
    if "overlap" in report:
        overlap = report["overlap"]
        shown = "n/a" if overlap is None else ", ".join(f"{k} {v}" for k, v in overlap.items())
        rows.append(("texts also in train", shown))
    labels = report.get("labels") or {}
    rows += [("missing labels", labels.get("missing")),
             ("imbalance ratio (max/min)", labels.get("imbalance_ratio"))]  # fmt: skip
    overview = Table(["", ""], [[k, fmt(v)] for k, v in rows if v is not None],
                     f"data: {report.get('source', 'data')}")  # fmt: skip
    blocks: list[Block] = [overview]
    if labels.get("counts"):
        total = sum(labels["counts"].values()) or 1
        shares = {str(k): {"rows": n, "share": f"{n / total:.1%}"} for k, n in
                  labels["counts"].items()}  # fmt: skip
        blocks.append(mapping_table("labels", shares))
    if report.get("lengths"):
        blocks.append(mapping_table("lengths", report["lengths"]))
    return blocks
