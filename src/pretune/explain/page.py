"""The explanation page: coloured words per method, attention maps, rollout, global rules."""

from __future__ import annotations

from typing import Any

from pretune.report.html import details, esc, image, page, section, table

__all__ = ["coloured_words", "render_page"]

EXTRA_CSS = (
    "<style>.tok{padding:1px 3px;margin:1px;border-radius:3px;display:inline-block;"
    "font-family:ui-monospace,monospace;font-size:13px}.legend span{margin-right:10px}"
    "pre.rules{background:#f3f4f6;padding:8px;border-radius:6px;font-size:12px}</style>"
)


def _colour(score: float, scale: float) -> str:
    # Green pushes towards the explained class, red away; intensity = |score| / max |score|.
    alpha = 0.0 if scale <= 0 else min(1.0, abs(score) / scale)
    rgb = "22,163,74" if score >= 0 else "220,38,38"
    return f"rgba({rgb},{alpha:.2f})"


def coloured_words(words: list[str], scores: list[float]) -> str:
    """Words as spans shaded by their attribution (hover shows the number)."""
    scale = max((abs(s) for s in scores), default=0.0)
    return "".join(
        f'<span class="tok" style="background:{_colour(s, scale)}" title="{s:+.4f}">{esc(w)}</span>'
        for w, s in zip(words, scores, strict=False)
    )


def _text_block(item: dict[str, Any]) -> str:
    probs = ", ".join(f"{k} {v:.3f}" for k, v in item["probs"].items())
    parts = [f"<p><b>predicted: {esc(item['predicted'])}</b> ({esc(probs)})</p>"]
    for attr in item["attributions"]:
        note = ""
        if attr.method == "ig":
            e = attr.extra
            note = (
                f" &mdash; sum {e['sum']:+.4f} vs f(x)&minus;f(baseline) "
                f"{e['f_x'] - e['f_baseline']:+.4f}; convergence delta {e['delta']:.2e}"
            )
        label = {"ig": "Integrated gradients", "shap": "KernelSHAP", "lime": "LIME"}[attr.method]
        parts.append(
            f"<p><b>{label}</b>{note}</p><div>{coloured_words(attr.words, attr.scores)}</div>"
        )
    if item.get("rollout_words"):
        words, scores = item["rollout_words"]
        parts.append(
            f"<p><b>Attention rollout</b> ([CLS] row)</p><div>{coloured_words(words, scores)}</div>"
        )
    plots = [image(uri, f"attention layer {i + 1}") for i, uri in enumerate(item.get("layers", []))]
    if plots:
        parts.append(details(f"Attention maps: {len(plots)} layers, every head", "".join(plots)))
    if item.get("rollout_plot"):
        parts.append(details("Attention rollout matrix", image(item["rollout_plot"], "rollout")))
    return "".join(parts)


def _global_block(glob: dict[str, Any]) -> str:
    rules = glob["rules"]
    out = [
        f"<p>A depth-{rules.depth} decision tree on word presence mimics the model's predictions "
        f"with <b>fidelity {rules.fidelity:.3f}</b> on {rules.n_heldout} held-out texts "
        f"({rules.train_fidelity:.3f} on the {rules.n_train} it was fit on).</p>",
        f'<pre class="rules">{esc(rules.text)}</pre>',
    ]
    for label, rows in glob["words"].items():
        out.append(f"<h3>{esc(label)}</h3>")
        shown = [(w, float(f"{s:.3g}"), n) for w, s, n in rows]
        out.append(table(["word", "mean IG", "texts"], shown))
    return "".join(out)


def render_page(run_name: str, items: list[dict[str, Any]], glob: dict[str, Any] | None) -> str:
    """The whole explanation page as one self-contained HTML string."""
    legend = (
        '<p class="legend"><span style="background:rgba(22,163,74,.6)" class="tok">supports</span>'
        '<span style="background:rgba(220,38,38,.6)" class="tok">opposes</span> the explained '
        "(predicted) class; hover a word for its score.</p>"
    )
    body = [legend]
    nav = []
    for i, item in enumerate(items):
        anchor = f"text-{i + 1}"
        nav.append((anchor, f"Text {i + 1}"))
        body.append(section(anchor, f"Text {i + 1}", _text_block(item)))
    if glob:
        nav.append(("global", "Global"))
        body.append(section("global", "Global explanation", _global_block(glob)))
    header = f'<header class="top"><h1>pretune explain: {esc(run_name)}</h1></header>{EXTRA_CSS}'
    return page(f"pretune explain: {run_name}", header, nav, "".join(body))
