"""`explain_run`: load a finished run's model, explain texts, write `<run>/explain/index.html`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pretune.errors import CheckpointError, ConfigError
from pretune.explain.attention import attention_grid, attentions, rollout, rollout_plot
from pretune.explain.attributions import METHODS, Explainer
from pretune.explain.global_rules import extract_rules, influential_words
from pretune.explain.page import render_page
from pretune.process_state import leaves_process_as_found

__all__ = ["explain_run", "explain_texts", "global_texts", "load_explainer"]


def load_explainer(run_dir: Path) -> Explainer:
    """The run's final model (eager attention, so attention weights come back) and tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").is_file():
        raise CheckpointError(
            f"{run_dir} has no model/ folder: explain needs a finished run (pretune finetune)"
        )
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), attn_implementation="eager"
    )
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    max_length = min(getattr(model.config, "max_position_embeddings", 512), 512)
    config = Path(run_dir) / "config.yaml"
    if config.is_file():
        from pretune.config import load_config

        max_length = min(max_length, load_config(config).model.max_length)
    return Explainer(model, tokenizer, max_length)


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
    from pretune.config import load_config
    from pretune.data.text_classification import prepare_data

    cfg = load_config(Path(run_dir) / "config.yaml")
    if data:
        from pretune.data.sources import load_source

        dataset = load_source(
            data, text_column=cfg.data.text_column, label_column=cfg.data.label_column
        )
        texts = list(dataset["text"][:])
    else:
        splits = prepare_data(cfg.data, cfg.seed).splits
        texts = list(splits["validation"]["text"][:]) + list(splits["test"]["text"][:])
    return texts[:limit]


@leaves_process_as_found()
def explain_run(
    run_dir: Path,
    texts: list[str],
    methods: list[str],
    *,
    output: Path | None = None,
    global_: bool = False,
    data: str | None = None,
    limit: int = 200,
    ig_texts: int = 60,
    log: Any = print,
) -> Path:
    """Explain `texts` (and optionally the model as a whole) and write the HTML page.

    Args:
        run_dir: a finished fine-tuning run.
        texts: texts to explain one by one (may be empty when `global_`).
        methods: subset of ig, shap, lime.
        output: the page path (default `<run_dir>/explain/index.html`).
        global_: also extract rules and per-class influential words.
        data: texts for the global part (default: the run's validation + test rows).
        limit: at most this many texts for the global part (rules).
        ig_texts: how many of those get IG for the influential words (IG is the slow part).
        log: progress messages.

    Returns:
        The path written.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(
            f"method={','.join(unknown)} unknown; choose from {', '.join(METHODS)}, all"
        )
    if not texts and not global_:
        raise ConfigError('give text="..." or file=<texts.txt> (or global=true)')
    explainer = load_explainer(Path(run_dir))
    log(f"explaining {len(texts)} text(s) with {', '.join(methods)}")
    items = explain_texts(explainer, texts, methods)
    glob = None
    if global_:
        corpus = global_texts(Path(run_dir), data, limit)
        log(f"global explanation over {len(corpus)} texts")
        labels = _labels(explainer)
        predicted = []
        for start in range(0, len(corpus), 32):
            predicted += [
                labels[int(i)] for i in explainer.probs(corpus[start : start + 32]).argmax(-1)
            ]
        rules = extract_rules(corpus, predicted)
        igs = [explainer.integrated_gradients(t, steps=24) for t in corpus[:ig_texts]]
        glob = {"rules": rules, "words": influential_words(igs, labels)}
        log(
            f"rules (fidelity {rules.fidelity:.3f} on {rules.n_heldout} held-out texts):\n"
            + rules.text
        )
    path = Path(output) if output else Path(run_dir) / "explain" / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(Path(run_dir).name, items, glob), encoding="utf-8")
    numbers = [
        {"text": it["text"][:200], "predicted": it["predicted"],
         **{f"ig_{k}": v for k, v in it["attributions"][0].extra.items()
            if k in ("sum", "f_x", "f_baseline", "delta")}}
        for it in items if it["attributions"] and it["attributions"][0].method == "ig"
    ]  # fmt: skip
    if glob:
        numbers.append({"rules_fidelity": glob["rules"].fidelity})
    (path.parent / "explain.json").write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    if (Path(run_dir) / "summary.json").is_file():  # link the page from the run's report
        from pretune.report import try_write_report

        try_write_report(Path(run_dir), log)
    return path
