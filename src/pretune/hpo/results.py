"""What a search leaves behind: best.yaml, trials.csv, importances and search.html.

Plots are matplotlib (Agg) PNGs inlined as data URIs, so the page needs no network or scripts.
"""

from __future__ import annotations

import contextlib
import csv
import math
import warnings
from pathlib import Path
from typing import Any

from pretune.config import RunConfig, save_config
from pretune.hpo.space import apply_params
from pretune.report.html import cards, esc, image, page, row, section, table

# The report's figure helpers, so search plots share the report's size and PNG encoding.
from pretune.report.plots import figure_png, new_figure

__all__ = [
    "format_table",
    "importance_note",
    "importances",
    "trial_rows",
    "write_best_config",
    "write_results",
    "write_trials_csv",
]


def trial_rows(study: Any) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows): number, state, value, each parameter, seconds, run folder."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    headers = ["trial", "state", "value", *keys, "seconds", "run_dir"]
    rows = []
    for t in trials:
        seconds = t.duration.total_seconds() if t.duration else None
        value = t.value if t.value is not None else _last_intermediate(t)
        rows.append(
            [t.number, t.state.name.lower(), value, *[t.params.get(k) for k in keys],
             None if seconds is None else round(seconds, 1), t.user_attrs.get("run_dir", "")]
        )  # fmt: skip
    return headers, rows


def _last_intermediate(trial: Any) -> float | None:
    # A pruned trial has no final value; its last reported metric says how far it got.
    values = trial.intermediate_values
    return values[max(values)] if values else None


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table for the terminal (run folders left out: they are in the CSV)."""
    cols = [i for i, h in enumerate(headers) if h != "run_dir"]
    cells = [[headers[i] for i in cols]] + [[_show(r[i]) for i in cols] for r in rows]
    widths = [max(len(line[j]) for line in cells) for j in range(len(cols))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) for line in cells)
    return "\n".join(lines)


def write_trials_csv(path: Path, headers: list[str], rows: list[list[Any]]) -> None:
    """trials.csv: one row per trial, parameters as columns."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows([["" if v is None else v for v in r] for r in rows])


# Importances are fitted to the completed trials (Optuna's fANOVA): with fewer than this many
# they split evenly or follow noise (two tied trials gave 0.5 / 0.5), so none are reported.
MIN_TRIALS_FOR_IMPORTANCES = 5


def importance_note(study: Any) -> str | None:
    """Why the study's parameter importances are not estimated; None when they are."""
    import optuna

    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not any(t.params for t in completed):
        return "not estimated: no completed trial with searched parameters"
    if len(completed) < MIN_TRIALS_FOR_IMPORTANCES:
        return (
            f"not estimated from {len(completed)} completed trial(s): they need at least "
            f"{MIN_TRIALS_FOR_IMPORTANCES} (with fewer they split evenly or follow noise)"
        )
    if len({t.value for t in completed}) == 1:
        return "not estimated: every completed trial scored the same"
    return None


def importances(study: Any) -> dict[str, float]:
    """Parameter importances (Optuna's default evaluator); empty when `importance_note`
    says why they cannot be estimated."""
    import optuna

    if importance_note(study) is not None:
        return {}
    try:
        with warnings.catch_warnings():  # "importances will be equal" on flat studies
            warnings.simplefilter("ignore", UserWarning)
            return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. all values identical
        return {}


def write_best_config(study: Any, base: RunConfig, path: Path) -> RunConfig | None:
    """best.yaml: the base config with the best trial's values, runnable as is."""
    try:
        best = study.best_trial
    except ValueError:  # no completed trial yet
        return None
    cfg = apply_params(base, best.params, type(base), name=None)
    save_config(cfg, path)
    return cfg


def history_plot(study: Any, metric: str) -> str | None:
    """Each trial's value (pruned ones hollow) and the best so far."""
    points = [(t.number, t.value, t.state.name) for t in study.get_trials(deepcopy=False)]
    done = [(n, v) for n, v, s in points if s == "COMPLETE" and v is not None]
    if not done:
        return None
    fig = new_figure(6, 3.2)
    ax = fig.add_subplot()
    ax.scatter(*zip(*done, strict=False), color="#2563eb", label="trial", zorder=3)
    best, xs, ys = -math.inf, [], []
    for n, v in sorted(done):
        best = max(best, v)
        xs.append(n)
        ys.append(best)
    ax.step(xs, ys, where="post", color="#dc2626", label="best so far")
    pruned = [(t.number, _last_intermediate(t)) for t in study.get_trials(deepcopy=False)
              if t.state.name == "PRUNED" and _last_intermediate(t) is not None]  # fmt: skip
    if pruned:
        xs_p, ys_p = zip(*pruned, strict=False)
        ax.scatter(xs_p, ys_p, facecolors="none", edgecolors="#6b7280", label="pruned")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    ax.set(title="Optimisation history", xlabel="trial", ylabel=metric)
    ax.legend(loc="best")
    return figure_png(fig)


def parallel_plot(study: Any, metric: str) -> str | None:
    """Parallel coordinates: one line per completed trial, each axis scaled to [0, 1]."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    keys = sorted({k for t in trials for k in t.params})
    if not trials or not keys:
        return None
    columns = []
    for key in keys:
        raw = [t.params.get(key) for t in trials]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw
                      if v is not None)  # fmt: skip
        if numeric:
            vals = [math.log10(v) if v and v > 0 and _is_log(study, key) else v for v in raw]
        else:
            order = sorted({str(v) for v in raw})
            vals = [order.index(str(v)) if v is not None else None for v in raw]
        present = [v for v in vals if v is not None]
        lo, hi = min(present), max(present)
        columns.append([None if v is None else (v - lo) / (hi - lo) if hi > lo else 0.5
                        for v in vals])  # fmt: skip
    values = [t.value for t in trials]
    vmin, vmax = min(values), max(values)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    fig = new_figure(max(4.0, 1.6 * (len(keys) + 1)), 3.4)
    ax = fig.add_subplot()
    for i, value in enumerate(values):
        ys = [col[i] for col in columns] + [(value - vmin) / (vmax - vmin) if vmax > vmin else 0.5]
        xs = [j for j, y in enumerate(ys) if y is not None]
        colour = cmap((value - vmin) / (vmax - vmin) if vmax > vmin else 0.5)
        ax.plot(xs, [ys[j] for j in xs], color=colour, alpha=0.8, marker="o", markersize=3)
    ax.set_xticks(range(len(keys) + 1), [*keys, metric], rotation=15, fontsize=8)
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_title(f"Parallel coordinates (colour: {metric}, {vmin:.3g} to {vmax:.3g})")
    return figure_png(fig)


def _is_log(study: Any, key: str) -> bool:
    for t in study.get_trials(deepcopy=False):
        dist = t.distributions.get(key)
        if dist is not None:
            return bool(getattr(dist, "log", False))
    return False


def importance_plot(scores: dict[str, float]) -> str | None:
    """Horizontal bars of the parameter importances."""
    if not scores:
        return None
    fig = new_figure(5.5, 0.5 + 0.4 * len(scores))
    ax = fig.add_subplot()
    names = list(scores)[::-1]
    ax.barh(names, [scores[n] for n in names], color="#2563eb")
    ax.set(title="Parameter importance", xlabel="importance")
    return figure_png(fig)


def render_search(study: Any, metric: str, best_cfg: RunConfig | None) -> str:
    """search.html as a string."""
    headers, rows = trial_rows(study)
    states = [r[1] for r in rows]
    scores = importances(study)
    best = None
    with contextlib.suppress(ValueError):
        best = study.best_trial
    summary = cards(
        [
            ("trials", str(len(rows)), f"{states.count('complete')} complete, "
             f"{states.count('pruned')} pruned"),
            (f"best {metric}", f"{best.value:.4f}" if best else "-",
             f"trial {best.number}" if best else "no completed trial"),
        ]
    )  # fmt: skip
    best_html = ""
    if best is not None:
        params = table(["parameter", "value"], [(k, v) for k, v in best.params.items()])
        note = "<p>Ready to run: <code>pretune finetune best.yaml</code></p>" if best_cfg else ""
        best_html = params + note
    plots = row(
        *(image(uri, alt) for uri, alt in (
            (history_plot(study, metric), "optimisation history"),
            (parallel_plot(study, metric), "parallel coordinates"),
            (importance_plot(scores), "parameter importance"),
        ) if uri)
    )  # fmt: skip
    imp = table(["parameter", "importance"], [(k, round(v, 4)) for k, v in scores.items()])
    body = "".join(
        [
            summary,
            section("best", "Best trial", best_html or "<p>No completed trial yet.</p>"),
            section("plots", "History, parallel coordinates, importance", plots),
            section("importance", "Parameter importances",
                    imp if scores else f"<p>{esc(importance_note(study) or 'none')}.</p>"),
            section("trials", "Trials", table(headers, rows)),
        ]
    )  # fmt: skip
    header = f'<header class="top"><h1>pretune search: {esc(study.study_name)}</h1></header>'
    nav = [("best", "Best"), ("plots", "Plots"), ("importance", "Importance"), ("trials", "Trials")]
    return page(f"pretune search: {study.study_name}", header, nav, body)


def write_results(study: Any, base: RunConfig, search_dir: Path) -> dict[str, Any]:
    """Write best.yaml, trials.csv, importances.json and search.html; return what was written."""
    from pretune.files import write_json_atomic

    headers, rows = trial_rows(study)
    write_trials_csv(search_dir / "trials.csv", headers, rows)
    best_cfg = write_best_config(study, base, search_dir / "best.yaml")
    scores = importances(study)
    write_json_atomic(search_dir / "importances.json", scores)
    html = render_search(study, base.eval.metric, best_cfg)
    (search_dir / "search.html").write_text(html, encoding="utf-8")
    return {"table": format_table(headers, rows), "importances": scores,
            "importances_note": importance_note(study), "best": best_cfg}  # fmt: skip
