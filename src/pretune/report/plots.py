"""The report's plots: matplotlib figures rendered off-screen to inline PNG data URIs.

Figures are built with `matplotlib.figure.Figure` and the Agg canvas directly, never pyplot, so
no global state or GUI backend is touched (safe inside a training process or a notebook).
Each function takes plain lists and returns a `data:image/png;base64,...` string, or None when
there is nothing to draw.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "PALETTE",
    "confusion_heatmap",
    "figure_png",
    "line_chart",
    "new_figure",
    "per_class_bars",
    "rate_curves",
    "reliability_chart",
]

PALETTE = (
    "#2563eb",
    "#ea580c",
    "#16a34a",
    "#dc2626",
    "#9333ea",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)
_DPI = 110
_STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "axes.edgecolor": "#9ca3af",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
}

Series = tuple[str, Sequence[float], Sequence[float]]  # (name, x, y)


F = TypeVar("F", bound=Callable[..., Any])


def _styled(func: F) -> F:
    """Run a plot function under the report style without changing the global rcParams."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@_styled
def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str = "step",
    ylabel: str = "",
    logy: bool = False,
    marker_at: float | None = None,
    marker_label: str = "",
) -> str | None:
    """Lines sharing one axis (e.g. train vs validation loss, or one run per line).

    Args:
        series: (name, xs, ys) per line; empty ones are skipped.
        title: Plot title.
        xlabel: X axis label.
        ylabel: Y axis label.
        logy: Log-scale y axis (learning rates spanning decades).
        marker_at: Draw a dashed vertical line at this x (e.g. the best step).
        marker_label: Legend text of that line.
    """
    drawn = [(name, xs, ys) for name, xs, ys in series if len(xs) and len(xs) == len(ys)]
    if not drawn:
        return None
    fig = new_figure(5.6, 3.2)
    ax = fig.add_subplot()
    for i, (name, xs, ys) in enumerate(drawn):
        few = len(xs) <= 25  # markers help read sparse validation points
        ax.plot(
            xs,
            ys,
            label=name,
            color=PALETTE[i % len(PALETTE)],
            linewidth=1.6,
            marker="o" if few else None,
            markersize=3.5,
        )
    if marker_at is not None:
        ax.axvline(marker_at, color="#6b7280", linestyle="--", linewidth=1, label=marker_label)
    if logy and all(y > 0 for _, _, ys in drawn for y in ys):
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(drawn) > 1 or marker_at is not None:
        ax.legend(loc="best")
    return figure_png(fig)


@_styled
def confusion_heatmap(matrix: Sequence[Sequence[float]], labels: Sequence[str]) -> str | None:
    """Confusion matrix heat map: colour = share of the true row, text = the count."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.size == 0:
        return None
    k = counts.shape[0]
    labels = list(labels) if len(labels) == k else [str(i) for i in range(k)]
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    side = min(9.0, max(3.8, 0.55 * k + 2.2))
    fig = new_figure(side + 0.9, side)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    ticks = range(k)
    slanted = k > 4  # long label names overlap when horizontal
    ax.set_xticks(
        ticks,
        [_short(x) for x in labels],
        rotation=40 if slanted else 0,
        ha="right" if slanted else "center",
    )
    ax.set_yticks(ticks, [_short(x) for x in labels])
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test)")
    if k <= 30:  # beyond that the numbers cannot be read anyway
        size = 9 if k <= 10 else 7 if k <= 20 else 5.5
        for i in range(k):
            for j in range(k):
                colour = "white" if share[i, j] > 0.55 else "#1f2430"
                ax.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    color=colour,
                    fontsize=size,
                )
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("share of true class")
    return figure_png(fig)


@_styled
def per_class_bars(labels: Sequence[str], scores: Mapping[str, Sequence[float]]) -> str | None:
    """Grouped bars: precision / recall / F1 for each class."""
    import numpy as np

    wanted = ("precision", "recall", "f1")
    names = [name for name in wanted if len(scores.get(name, ())) == len(labels)]
    if not labels or not names:
        return None
    k = len(labels)
    fig = new_figure(min(11.0, max(5.6, 0.7 * k + 2.5)), 3.3)
    ax = fig.add_subplot()
    x = np.arange(k)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar(
            x + (i - (len(names) - 1) / 2) * width,
            scores[name],
            width,
            label=name,
            color=PALETTE[i],
        )
    slanted = k > 6
    ax.set_xticks(
        x,
        [_short(name) for name in labels],
        rotation=40 if slanted else 0,
        ha="right" if slanted else "center",
    )
    ax.set_ylim(0, 1.18)  # headroom for the legend above the bars
    ax.set(title="Per-class precision, recall and F1 (test)")
    ax.legend(loc="upper center", ncol=len(names))
    ax.grid(axis="x", visible=False)
    return figure_png(fig)


@_styled
def rate_curves(curves: Mapping[str, Mapping[str, Any]], *, kind: str) -> str | None:
    """ROC (kind="roc": fpr vs tpr) or precision-recall (kind="pr") curves, one per class."""
    x_key, y_key = ("fpr", "tpr") if kind == "roc" else ("recall", "precision")
    drawn = []
    for label, curve in curves.items():
        if not isinstance(curve, Mapping):
            continue
        xs, ys = curve.get(x_key), curve.get(y_key)
        if isinstance(xs, list) and isinstance(ys, list) and xs and len(xs) == len(ys):
            drawn.append((label, xs, ys, curve.get("auc")))
    if not drawn:
        return None
    fig = new_figure(4.6, 4.0)
    ax = fig.add_subplot()
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="#9ca3af", linestyle="--", linewidth=1)
    for i, (label, xs, ys, auc) in enumerate(drawn):
        name = _short(label) + (f" ({auc:.3f})" if isinstance(auc, int | float) else "")
        step = "post" if kind == "pr" else None
        if step:
            ax.step(xs, ys, where=step, label=name, color=PALETTE[i % len(PALETTE)], lw=1.5)
        else:
            ax.plot(xs, ys, label=name, color=PALETTE[i % len(PALETTE)], lw=1.5)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    if kind == "roc":
        ax.set(
            title="ROC curves (one-vs-rest, AUC)",
            xlabel="false positive rate",
            ylabel="true positive rate",
        )
    else:
        ax.set(title="Precision-recall curves (AUC)", xlabel="recall", ylabel="precision")
    ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=7.5)
    return figure_png(fig)


@_styled
def reliability_chart(reliability: Mapping[str, Any]) -> str | None:
    """Reliability diagram: accuracy vs confidence per bin, with the count per bin below."""
    conf = reliability.get("confidence")
    acc = reliability.get("accuracy")
    count = reliability.get("count")
    if not (isinstance(conf, list) and isinstance(acc, list) and conf and len(conf) == len(acc)):
        return None
    fig = new_figure(4.6, 4.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    width = 0.9 / max(len(conf), 15)  # pretune bins [0, 1] into 15; empty bins are left out
    top.plot([0, 1], [0, 1], color="#9ca3af", linestyle="--", linewidth=1, label="perfect")
    top.bar(conf, acc, width=width, color=PALETTE[0], alpha=0.85, label="model")
    ece = reliability.get("ece")
    title = "Reliability diagram" + (f" (ECE {ece:.3f})" if isinstance(ece, int | float) else "")
    top.set(title=title, ylabel="accuracy", ylim=(0, 1.02))
    top.legend(loc="upper left")
    if isinstance(count, list) and len(count) == len(conf):
        bottom.bar(conf, count, width=width, color="#9ca3af")
    bottom.set(xlabel="confidence", ylabel="count", xlim=(0, 1.01))
    return figure_png(fig)


def _short(text: Any, limit: int = 18) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
