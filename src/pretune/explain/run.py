"""`explain_run`: load a finished run's model and explain texts.

Reading a run never changes it unless asked: the page is written only to `output=` or, with
`save=True`, into `<run>/explain/index.html` (and the run's report is rewritten to link it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pretune.data.sources import load_source
from pretune.errors import CheckpointError, ConfigError
from pretune.explain.attention import attention_grid, attentions, rollout, rollout_plot
from pretune.explain.attributions import METHODS, Explainer
from pretune.explain.global_rules import extract_rules, influential_words
from pretune.explain.page import render_page
from pretune.process_state import leaves_process_as_found
from pretune.report import try_write_report
from pretune.runs import load_run_model, run_config, run_config_path, run_split

__all__ = [
    "Explanation",
    "explain_run",
    "explain_texts",
    "global_explanation",
    "global_texts",
    "load_explainer",
    "top_words",
]

TOP_WORDS = 5  # words shown per method in the terminal: enough to see what drove a prediction


def load_explainer(run_dir: Path) -> Explainer:
    """The run's final model (eager attention, so attention weights come back) and tokenizer."""
    run_dir = Path(run_dir)
    if not (run_dir / "model" / "config.json").is_file():
        raise CheckpointError(
            f"{run_dir} has no model/ folder: explain needs a finished run (pretune finetune)"
        )
    loaded = load_run_model(run_dir, attn_implementation="eager")
    max_length = min(getattr(loaded.model.config, "max_position_embeddings", 512), 512)
    if run_config_path(run_dir) is not None:
        max_length = min(max_length, run_config(run_dir).model.max_length)
    return Explainer(loaded.model, loaded.tokenizer, max_length)


def _labels(explainer: Explainer) -> list[str]:
    mapping = explainer.model.config.id2label
    return [mapping[i] for i in range(len(mapping))]


def explain_texts(
    explainer: Explainer, texts: list[str], methods: list[str], attention: bool = True
) -> list[dict[str, Any]]:
    """Per text: prediction, one attribution per method, attention maps and rollout."""
    labels = _labels(explainer)
    items = []
    for text in texts:
        probs = explainer.probs([text])[0]
        target = int(probs.argmax())
        item: dict[str, Any] = {
            "text": text,
            "predicted": labels[target],
            "probs": {labels[i]: float(p) for i, p in enumerate(probs)},
            "attributions": [explainer.explain(text, m, target) for m in methods],
        }
        if attention:
            tokens, att = attentions(
                explainer.model, explainer.tokenizer, text, explainer.max_length
            )
            roll = rollout(att)
            item["layers"] = [attention_grid(tokens, att, layer) for layer in range(att.shape[0])]
            item["rollout_plot"] = rollout_plot(tokens, roll)
            item["rollout_words"] = (tokens, roll[0].tolist())
        items.append(item)
    return items


def global_texts(run_dir: Path, data: str | None, limit: int) -> list[str]:
    """Texts for global explanations: `data` (a file or built-in), else the run's own
    validation + test splits (re-made from its config, so the same rows it never trained on)."""
    cfg = run_config(Path(run_dir))
    if data:
        dataset = load_source(
            data, text_column=cfg.data.text_column, label_column=cfg.data.label_column
        )
        texts = list(dataset["text"][:])
    else:
        texts = list(run_split(cfg, "validation")["text"][:])
        texts += list(run_split(cfg, "test")["text"][:])
    return texts[:limit]


def global_explanation(
    explainer: Explainer, corpus: list[str], ig_texts: int, log: Any = print
) -> dict[str, Any]:
    """Rules that mimic the model on `corpus` and per-class influential words (IG over the
    first `ig_texts` texts: IG is the slow part)."""
    log(f"global explanation over {len(corpus)} texts")
    labels = _labels(explainer)
    predicted = []
    for start in range(0, len(corpus), 32):
        predicted += [
            labels[int(i)] for i in explainer.probs(corpus[start : start + 32]).argmax(-1)
        ]
    rules = extract_rules(corpus, predicted)
    igs = [explainer.integrated_gradients(t, steps=24) for t in corpus[:ig_texts]]
    log(
        f"rules (fidelity {rules.fidelity:.3f} on {rules.n_heldout} held-out texts):\n" + rules.text
    )
    return {"rules": rules, "words": influential_words(igs, labels)}


def _check_request(texts: list[str], methods: list[str], global_: bool) -> None:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(
            f"method={','.join(unknown)} unknown; choose from {', '.join(METHODS)}, all"
        )
    if not texts and not global_:
        raise ConfigError('give text="..." or file=<texts.txt> (or global=true)')


def _write_numbers(path: Path, items: list[dict[str, Any]], glob: dict | None) -> None:
    """explain.json beside the page: the IG numbers per text and the rules' fidelity."""
    numbers = [
        {"text": it["text"][:200], "predicted": it["predicted"],
         **{f"ig_{k}": v for k, v in it["attributions"][0].extra.items()
            if k in ("sum", "f_x", "f_baseline", "delta")}}
        for it in items if it["attributions"] and it["attributions"][0].method == "ig"
    ]  # fmt: skip
    if glob:
        numbers.append({"rules_fidelity": glob["rules"].fidelity})
    path.write_text(json.dumps(numbers, indent=2), encoding="utf-8")


def top_words(attribution: Any, k: int = TOP_WORDS) -> list[tuple[str, float]]:
    """The `k` words with the largest attributions (by size; the sign says which way)."""
    pairs = zip(attribution.words, attribution.scores, strict=False)
    return sorted(pairs, key=lambda pair: -abs(pair[1]))[:k]


@dataclass
class Explanation:
    """What `explain_run` found: per text the prediction and its top words per method; the
    page it wrote (None when it wrote none)."""

    texts: list[dict[str, Any]]
    page: Path | None


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": item["text"],
        "predicted": item["predicted"],
        "probability": item["probs"][item["predicted"]],
        "top_words": {a.method: top_words(a) for a in item["attributions"]},
    }


def _page_path(run_dir: Path, output: Path | None, save: bool) -> Path | None:
    if output is not None:
        return Path(output)
    return run_dir / "explain" / "index.html" if save else None


@leaves_process_as_found()
def explain_run(
    run_dir: Path,
    texts: list[str],
    methods: list[str],
    *,
    output: Path | None = None,
    save: bool = False,
    global_: bool = False,
    data: str | None = None,
    limit: int = 200,
    ig_texts: int = 60,
    log: Any = print,
) -> Explanation:
    """Explain `texts` (and optionally the model as a whole); write the HTML page when asked.

    Args:
        run_dir: a finished fine-tuning run (read only, unless `save`).
        texts: texts to explain one by one (may be empty when `global_`).
        methods: subset of ig, shap, lime.
        output: write the page (and `explain.json` beside it) to this path.
        save: write the page into the run, `<run_dir>/explain/index.html`, and rewrite the
            run's report so that it links the page.
        global_: also extract rules and per-class influential words.
        data: texts for the global part (default: the run's validation + test rows).
        limit: at most this many texts for the global part (rules).
        ig_texts: how many of those get IG for the influential words (IG is the slow part).
        log: progress messages.
    """
    _check_request(texts, methods, global_)
    run_dir = Path(run_dir)
    explainer = load_explainer(run_dir)
    path = _page_path(run_dir, output, save)
    log(f"explaining {len(texts)} text(s) with {', '.join(methods)}")
    # Attention maps only go on the page: without one they are not computed.
    items = explain_texts(explainer, texts, methods, attention=path is not None)
    glob = None
    if global_:
        glob = global_explanation(explainer, global_texts(run_dir, data, limit), ig_texts, log)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_page(run_dir.name, items, glob), encoding="utf-8")
        _write_numbers(path.parent / "explain.json", items, glob)
        if save and (run_dir / "summary.json").is_file():  # link the page from the report
            try_write_report(run_dir, log)
    return Explanation([_summary(item) for item in items], path)
