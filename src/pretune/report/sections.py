"""The sections of a run report, one function each: `RunData -> HTML body`.

Each function reads only what it needs with `dig`/`series` and shows `missing()` when its data
was not recorded (older runs, pre-training runs without labels, runs that did not finish), so a
report always renders. `SECTIONS` lists them in page order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pretune.report.evaluation_sections import (
    calibration_section,
    curves_section,
    efficiency_section,
    errors_section,
)
from pretune.report.html import (
    bar_cell,
    cut_text,
    details,
    esc,
    fmt,
    image,
    missing,
    row,
    show_value,
    table,
)
from pretune.report.image_sections import robustness_section
from pretune.report.plots import confusion_heatmap, line_chart, per_class_bars
from pretune.report.rl_sections import rl_section
from pretune.report.run_data import RunData, dig, flatten, number, series

__all__ = ["SECTIONS", "TEST_METRICS", "summary_cards"]

# (key in summary["test"], label, what is better) in display order.
TEST_METRICS = (
    ("accuracy", "accuracy", "max"),
    ("macro_f1", "macro F1", "max"),
    ("micro_f1", "micro F1", "max"),
    ("weighted_f1", "weighted F1", "max"),
    ("macro_precision", "macro precision", "max"),
    ("macro_recall", "macro recall", "max"),
    ("roc_auc_macro", "ROC-AUC (macro)", "max"),
    ("pr_auc_macro", "PR-AUC (macro)", "max"),
    ("top2_accuracy", "top-2 accuracy", "max"),
    ("mcc", "Matthews correlation", "max"),
    ("precision", "entity precision (NER)", "max"),
    ("recall", "entity recall (NER)", "max"),
    ("f1", "F1 (NER entities; QA, %)", "max"),
    ("exact_match", "exact match (QA, %)", "max"),
    ("loss", "loss", "min"),
    ("log_loss", "log-loss", "min"),
    ("count", "examples", None),
)


def summary_cards(run: RunData) -> list[tuple[str, str, str]]:
    """The headline numbers: (label, value, note)."""
    from pretune.train.callbacks import format_duration

    test = dig(run.summary, "test") or {}
    best = dig(run.summary, "best_validation") or {}
    seconds = number(dig(run.summary, "timing", "train_seconds"))
    speed = number(dig(run.summary, "timing", "train_examples_per_s"))
    count = number(test.get("count") if isinstance(test, dict) else None)
    best_value = number(best.get("value")) if isinstance(best, dict) else None
    validation = dig(run.summary, "validation")
    if not test and isinstance(validation, dict) and validation:
        # A pre-training run: no labels, so its headline is validation loss / perplexity.
        cards = [
            ("validation loss", _metric(validation, "loss"), ""),
            ("validation perplexity", _metric(validation, "perplexity"), ""),
        ]
    else:
        cards = [
            ("test accuracy", _metric(test, "accuracy"), f"{int(count)} examples" if count else ""),
            ("test macro-F1", _metric(test, "macro_f1"), ""),
        ]
    cards += [
        ("steps", fmt(run.summary.get("steps")), _epochs(run.summary.get("epochs"))),
        (
            "training time",
            format_duration(seconds) if seconds is not None else "—",
            f"{speed:,.1f} examples/s" if speed is not None else "",
        ),
    ]
    if best_value is not None:
        note = f"at step {best.get('step')}" if best.get("step") is not None else ""
        cards.append((f"best validation {best.get('metric', '')}", f"{best_value:.4f}", note))
    return cards


def _metric(test: Any, key: str) -> str:
    value = number(test.get(key)) if isinstance(test, dict) else None
    return "—" if value is None else f"{value:.4f}"


def _epochs(epochs: Any) -> str:
    value = number(epochs)
    return "" if value is None else f"{value:g} epochs"


def config_section(run: RunData) -> str:
    if not run.config:
        return missing("no config.yaml")
    helps = _config_help()
    rows = [(key, show_value(value), helps.get(key, "")) for key, value in flatten(run.config)]
    body = table(["key", "value", "help"], rows, css_class="config")
    return details(f"Resolved config ({len(rows)} settings)", body)


def _config_help() -> dict[str, str]:
    # One line of help per key, from the current schema; keys it does not know get none.
    try:
        from pretune.config import RunConfig, describe_fields

        return {key: text for key, _, text in describe_fields(RunConfig())}
    except Exception:  # the help column is a nicety; never fail the report for it
        return {}


def data_section(run: RunData) -> str:
    data = dig(run.summary, "data")
    if not isinstance(data, dict) or not data:
        source = dig(run.config, "data", "source")
        return missing(f"data source: {source}" if source else "")
    parts = []
    source = dig(run.config, "data", "source")
    if source:
        parts.append(f'<p class="lead">Source: <b>{esc(source)}</b></p>')
    sizes = data.get("sizes") if isinstance(data.get("sizes"), dict) else {}
    truncated = data.get("truncated_fraction") or {}
    blocks = []
    if sizes:
        rows = [(split, size, _percent(dig(truncated, split))) for split, size in sizes.items()]
        blocks.append("<h3>Splits</h3>" + table(["split", "examples", "cut at max_length"], rows))
    counts = data.get("train_label_counts")
    if isinstance(counts, dict) and counts:
        top = max((number(v) or 0 for v in counts.values()), default=0)
        total = sum(number(v) or 0 for v in counts.values()) or 1
        rows = [
            (label, bar_cell(number(n) or 0, top, f"{fmt(n)} ({(number(n) or 0) / total:.1%})"))
            for label, n in counts.items()
        ]
        blocks.append("<h3>Training labels</h3>" + table(["label", "examples"], rows))
    known = ("sizes", "truncated_fraction", "train_label_counts", "cleaning")
    other = [
        (key, show_value(value)) for key, value in flatten(data) if key.split(".")[0] not in known
    ]
    if other:  # facts other recipes record (documents, packing, padding, ...)
        blocks.append("<h3>Facts</h3>" + table(["key", "value"], other))
    parts.append(row(*blocks))
    if "cleaning" in data or sizes:
        parts.append("<h3>Cleaning</h3>" + _cleaning(data.get("cleaning")))
    return "".join(parts)


def _percent(value: Any) -> Any:
    value = number(value)
    return "—" if value is None else f"{value:.1%}"


def _cleaning(cleaning: Any) -> str:
    if not isinstance(cleaning, dict) or not cleaning:
        return missing("no cleaning report")
    parts = []
    for source, report in cleaning.items():
        if not isinstance(report, dict):
            continue
        kept = f"kept {fmt(report.get('rows_out'))} of {fmt(report.get('rows_in'))} rows"
        rows = []
        for step in report.get("steps") or []:
            if not isinstance(step, dict):
                continue
            examples = "; ".join(cut_text(x, 120) for x in (step.get("examples") or [])[:3])
            rows.append((step.get("name", "?"), step.get("removed"), examples))
        parts.append(
            f'<p class="lead"><b>{esc(source)}</b>: {esc(kept)}</p>'
            + (table(["step", "removed", "examples"], rows, css_class="texts") if rows else "")
        )
    return "".join(parts) or missing("no cleaning report")


def training_section(run: RunData) -> str:
    train = run.split_records("train")
    validation = run.split_records("validation")
    loss = line_chart(
        [("train", *series(train, "loss")), ("validation", *series(validation, "loss"))],
        title="Loss",
        ylabel="loss",
    )
    lr = line_chart([("learning rate", *series(train, "lr"))], title="Learning rate")
    grad = line_chart([("grad norm", *series(train, "grad_norm"))], title="Gradient norm")
    speed = line_chart(
        [("examples/s", *series(train, "examples_per_s"))],
        title="Training throughput",
        ylabel="examples/s",
    )
    images = [
        image(uri, alt)
        for uri, alt in (
            (loss, "loss curve"),
            (lr, "learning-rate schedule"),
            (grad, "gradient norm"),
            (speed, "throughput"),
        )
        if uri
    ]
    if not images:
        return missing("no training steps in metrics.jsonl")
    return row(*images)


def validation_section(run: RunData) -> str:
    records = run.split_records("validation")
    if not records:
        return missing("no validation records in metrics.jsonl")
    metric = dig(run.config, "eval", "metric")
    # micro-F1 equals accuracy for single-label data: plotting both hides one line.
    keys = list(dict.fromkeys([k for k in (metric, "accuracy", "macro_f1") if k]))
    lines = [(key, *series(records, key)) for key in keys]
    lines = [line for line in lines if line[1]]
    title, ylabel, logy = "Validation metrics", "score", False
    if not lines:  # e.g. a language model: perplexity (or whatever it logged) over steps
        other = [k for k in _numeric_keys(records) if k not in _NOT_METRICS]
        key = "perplexity" if "perplexity" in other else next(iter(other), None)
        lines = [(key, *series(records, key))] if key else []
        title, ylabel, logy = f"Validation {key}", str(key), key == "perplexity"
    best = dig(run.summary, "best_validation") or {}
    best_step = number(best.get("step")) if isinstance(best, dict) else None
    uri = line_chart(
        lines,
        title=title,
        ylabel=ylabel,
        logy=logy,
        marker_at=best_step,
        marker_label="best checkpoint",
    )
    last = records[-1]
    labels = {key: label for key, label, _ in TEST_METRICS}
    rows = [
        (labels.get(key, key), last[key])
        for key in _numeric_keys([last])
        if key not in ("step", "epoch")
    ]
    text = ""
    if isinstance(best, dict) and number(best.get("value")) is not None:
        text = (
            f'<p class="lead">Best {esc(best.get("metric", "metric"))}: '
            f"<b>{esc(fmt(best.get('value')))}</b> at step {esc(fmt(best.get('step')))}<br>"
            '<span class="muted">(the weights evaluated on test)</span></p>'
        )
    if rows:
        step = esc(fmt(last.get("step")))
        text += f"<h3>Last evaluation (step {step})</h3>" + table(["metric", "value"], rows)
    return row(image(uri, "validation metrics") if uri else "", text)


_NOT_METRICS = ("step", "epoch", "loss", "count")


def _numeric_keys(records: list[dict[str, Any]]) -> list[str]:
    """Keys with a number in any record, in first-seen order."""
    keys: dict[str, None] = {}
    for record in records:
        keys.update((k, None) for k, v in record.items() if number(v) is not None)
    return list(keys)


def test_section(run: RunData) -> str:
    test = dig(run.summary, "test")
    if not isinstance(test, dict) or not test:
        return missing("no test split")
    rows = [
        (label, test[key]) for key, label, _ in TEST_METRICS if number(test.get(key)) is not None
    ]
    return row(table(["metric", "value"], rows) if rows else "", _confusion(run)) + _distillation(
        run
    )


def _distillation(run: RunData) -> str:
    """Student vs teacher, for a `pretune distill` run (summary["distillation"])."""
    d = dig(run.summary, "distillation")
    if not isinstance(d, dict) or not d:
        return ""
    both = ("student", "teacher")
    rows = [
        ("test accuracy", *(dig(d, "test", f"{k}_accuracy") for k in both)),
        ("parameters", *(dig(d, "parameters", k) for k in both)),
        ("size on disk (MB)", *(dig(d, "disk_mb", k) for k in both)),
        ("layers", *(dig(d, "layers", k) for k in both)),
        ("inference (examples/s)", *(dig(d, "speed", f"{k}_examples_per_s") for k in both)),
    ]
    retained, agreement = number(dig(d, "test", "retained")), number(dig(d, "test", "agreement"))
    speedup = number(dig(d, "speed", "speedup"))
    if retained is None or agreement is None or speedup is None:
        return "<h3>Student vs teacher</h3>" + table(["", "student", "teacher"], rows)
    note = (
        f"<p>The student keeps {retained:.1%} of the teacher's accuracy, agrees with it on "
        f"{agreement:.1%} of test examples and runs {speedup:.2f}x as fast (timed in the same "
        "process, alternating rounds). "
        f"Teacher: {esc(d.get('teacher'))}; student: {esc(d.get('student'))}; "
        f"T={esc(d.get('temperature'))}, alpha={esc(d.get('alpha'))}.</p>"
    )
    return "<h3>Student vs teacher</h3>" + table(["", "student", "teacher"], rows) + note


def _confusion(run: RunData) -> str:
    matrix = dig(run.summary, "test", "confusion_matrix")
    if not isinstance(matrix, list) or not matrix:
        return missing("no confusion matrix")
    uri = confusion_heatmap(matrix, run.labels)
    if uri is None:
        return missing("the confusion matrix is not square")
    return image(uri, "confusion matrix (rows true, columns predicted)")


def per_class_section(run: RunData) -> str:
    per_class = dig(run.summary, "test", "per_class")
    if not isinstance(per_class, dict) or not per_class:
        return missing()
    labels = [str(label) for label in per_class]
    scores = {
        name: [number(dig(per_class, label, name)) or 0.0 for label in per_class]
        for name in ("precision", "recall", "f1")
    }
    errors = dig(run.summary, "errors", "per_class_error") or {}
    headers = ["label", "precision", "recall", "F1", "support"]
    if errors:
        headers.append("error rate")
    rows = []
    for label in per_class:
        cells = [str(label)] + [dig(per_class, label, key) for key in ("precision", "recall", "f1")]
        cells.append(dig(per_class, label, "support"))
        if errors:
            cells.append(dig(errors, str(label)))
        rows.append(cells)
    uri = per_class_bars(labels, scores)
    return row(image(uri, "per-class scores") if uri else "", table(headers, rows))


def environment_section(run: RunData) -> str:
    env = dig(run.summary, "environment")
    if not isinstance(env, dict) or not env:
        return missing()
    rows = [(key, show_value(value)) for key, value in flatten(env)]
    return details(f"Environment ({len(rows)} facts)", table(["key", "value"], rows))


def pages_section(run: RunData) -> str:
    """Links to the pages other commands wrote into the run folder (explain, evaluate)."""
    links = []
    explain = run.run_dir / "explain" / "index.html"
    if explain.is_file():
        links.append(("explain/index.html", "Explanations (attributions, attention, rules)"))
    for metrics in sorted((run.run_dir / "eval").glob("*/metrics.json")):
        name = metrics.parent.name
        links.append((f"eval/{name}/metrics.json", f"Evaluation '{name}' (metrics.json)"))
    if not links:
        return (
            "<p>None yet: <code>pretune explain</code> and <code>pretune evaluate</code> "
            "add links here.</p>"
        )
    items = "".join(f'<li><a href="{esc(href)}">{esc(text)}</a></li>' for href, text in links)
    return f"<ul>{items}</ul>"


# (anchor, title, renderer) in page order.
SECTIONS: tuple[tuple[str, str, Callable[[RunData], str | None]], ...] = (
    ("test", "Test results", test_section),
    ("config", "Config", config_section),
    ("data", "Data and cleaning", data_section),
    ("training", "Training curves", training_section),
    ("rl", "Reward and KL (RL fine-tuning)", rl_section),
    ("validation", "Validation over training", validation_section),
    ("robustness", "Robustness to pixel attacks", robustness_section),
    ("per-class", "Per-class scores", per_class_section),
    ("curves", "ROC and precision-recall", curves_section),
    ("calibration", "Calibration", calibration_section),
    ("errors", "Error analysis", errors_section),
    ("efficiency", "Efficiency", efficiency_section),
    ("environment", "Environment", environment_section),
    ("pages", "More pages", pages_section),
)
