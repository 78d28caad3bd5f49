"""The report sections on evaluation results: ROC / PR curves, calibration, error analysis
and efficiency (summary.json sections written by `pretune.evaluate.analysis`)."""

from __future__ import annotations

from pretune.report.html import Num, cut_text, esc, image, missing, row, table
from pretune.report.plots import rate_curves, reliability_chart
from pretune.report.run_data import RunData, dig, number

__all__ = [
    "EFFICIENCY",
    "calibration_section",
    "curves_section",
    "efficiency_section",
    "errors_section",
]

# summary["efficiency"] keys, with labels and units.
EFFICIENCY = (
    ("parameters", "parameters"),
    ("trainable_parameters", "trainable parameters"),
    ("flops_per_example", "FLOPs per example"),
    ("train_seconds", "training time (s)"),
    ("train_examples_per_s", "training examples/s"),
    ("train_tokens_per_s", "training tokens/s"),
    ("latency_ms_p50", "latency p50, batch 1 (ms)"),
    ("latency_ms_p95", "latency p95, batch 1 (ms)"),
    ("throughput_examples_per_s", "inference examples/s"),
    ("best_batch_size", "best inference batch size"),
    ("peak_memory_mb", "peak memory (MB)"),
)

_CALIBRATION = (
    ("ece", "ECE (expected calibration error)"),
    ("ece_after", "ECE after temperature scaling"),
    ("temperature", "fitted temperature"),
)


def curves_section(run: RunData) -> str:
    roc = dig(run.summary, "curves", "roc")
    pr = dig(run.summary, "curves", "pr")
    images = []
    if isinstance(roc, dict) and (uri := rate_curves(roc, kind="roc")):
        images.append(image(uri, "ROC curves"))
    if isinstance(pr, dict) and (uri := rate_curves(pr, kind="pr")):
        images.append(image(uri, "precision-recall curves"))
    return row(*images) if images else missing()


def calibration_section(run: RunData) -> str:
    reliability = dig(run.summary, "curves", "reliability")
    calibration = dig(run.summary, "calibration")
    if not isinstance(calibration, dict):
        calibration = {}
    uri = reliability_chart(reliability) if isinstance(reliability, dict) else None
    rows = [
        (label, calibration[key])
        for key, label in _CALIBRATION
        if number(calibration.get(key)) is not None
    ]
    if uri is None and not rows:
        return missing()
    note = (
        '<p class="muted">A calibrated model is right 80% of the time when it is 80% sure: '
        "bars on the diagonal. Temperature scaling (calibrate=true) divides the logits by one "
        "number fitted on validation.</p>"
    )
    return row(
        image(uri, "reliability diagram") if uri else "",
        (table(["calibration", "value"], rows) if rows else "") + note,
    )


def errors_section(run: RunData) -> str:
    errors = dig(run.summary, "errors")
    if not isinstance(errors, dict) or not errors:
        return missing("no error analysis")
    parts = []
    for key, title in (
        ("confident_mistakes", "Most confident mistakes"),
        ("possible_label_errors", "Possible label errors"),
    ):
        items = [x for x in errors.get(key) or [] if isinstance(x, dict)]
        if items:
            rows = [
                (
                    cut_text(x.get("text", "")),
                    x.get("label"),
                    x.get("predicted"),
                    x.get("confidence"),
                )
                for x in items
            ]
            parts.append(
                f"<h3>{esc(title)}</h3>"
                + table(["text", "label", "predicted", "confidence"], rows, css_class="texts")
            )
    pairs = [x for x in errors.get("confused_pairs") or [] if isinstance(x, dict)]
    if pairs:
        rows = [(x.get("true"), x.get("predicted"), x.get("count")) for x in pairs]
        parts.append("<h3>Most confused pairs</h3>" + table(["true", "predicted", "count"], rows))
    buckets = [x for x in errors.get("by_length") or [] if isinstance(x, dict)]
    if buckets:
        rows = [(x.get("bucket"), x.get("count"), x.get("accuracy")) for x in buckets]
        parts.append(
            "<h3>By input length (tokens)</h3>" + table(["length", "examples", "accuracy"], rows)
        )
    return "".join(parts) or missing("no error analysis")


def efficiency_section(run: RunData) -> str:
    efficiency = dig(run.summary, "efficiency")
    rows = []
    if isinstance(efficiency, dict):
        rows = [(label, Num(efficiency[key])) for key, label in EFFICIENCY if key in efficiency]
    if not rows and number(run.summary.get("parameters")) is not None:  # pre-training runs
        rows.append(("parameters", run.summary["parameters"]))
    timing = dig(run.summary, "timing")
    if isinstance(timing, dict):
        known = {key for key, _ in EFFICIENCY if isinstance(efficiency, dict) and key in efficiency}
        for key, label in (
            ("train_seconds", "training time (s)"),
            ("total_seconds", "total run time (s)"),
            ("train_examples_per_s", "training examples/s"),
        ):
            if key in timing and key not in known:
                rows.append((label, Num(timing[key])))
    return table(["measure", "value"], rows) if rows else missing()
