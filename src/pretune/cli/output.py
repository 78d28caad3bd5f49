"""What the CLI prints: run summaries, configs and data inspections as rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pretune.config import RunConfig, describe_fields
from pretune.train.callbacks import format_duration

__all__ = ["inspect_source", "print_config", "print_finetune_summary"]


def print_finetune_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Test accuracy, macro-F1, the confusion matrix, where the run is and how long it took."""
    console = console or Console()
    test = summary.get("test") or {}
    timing = summary["timing"]
    if test:
        console.print(
            f"[bold]test accuracy {test['accuracy']:.4f}   macro-F1 {test['macro_f1']:.4f}"
            f"[/bold]   ({test['count']} examples)"
        )
        labels = summary["labels"]
        table = Table(title="confusion matrix: rows true, columns predicted", title_justify="left")
        table.add_column("")
        for name in labels:
            table.add_column(name, justify="right")
        for name, row in zip(labels, test["confusion_matrix"], strict=True):
            table.add_row(name, *[str(v) for v in row])
        console.print(table)
    else:
        console.print("no test split (data.test_fraction=0 and no data.test_file)")
    console.print(
        f"run saved in [bold]{summary['run_dir']}[/bold]; training took "
        f"{format_duration(timing['train_seconds'])}, "
        f"{format_duration(timing['total_seconds'])} in all "
        f"({timing['train_examples_per_s']:.1f} examples/s)"
    )


def print_config(config: RunConfig, console: Console | None = None) -> None:
    """Every config field: key, resolved value, one line of help."""
    console = console or Console()
    rows = describe_fields(config)
    table = Table(show_lines=False)
    # Keys are copied into overrides: never cut them, however narrow the terminal; help wraps.
    widest = max((len(key) for key, _, _ in rows), default=3)
    table.add_column("key", style="bold", no_wrap=True, min_width=widest)
    table.add_column("value", overflow="fold")
    table.add_column("help", overflow="fold")
    for key, value, help_text in rows:
        table.add_row(key, "null" if value is None else str(value), help_text)
    console.print(table)


def inspect_source(source: str, tokenizer_name: str | None, overrides: list[str]) -> None:
    """Load `source` (with data.* overrides) and print the inspection report."""
    from pretune.config import load_config
    from pretune.data.inspect import inspect_dataset, render_inspection
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
    report = inspect_dataset(
        dataset,
        tokenizer=tokenizer,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        seed=cfg.seed,
        source_name=source,
    )
    render_inspection(report, Console())
