"""The model card: `model/README.md` of a finished run, in the Hugging Face model-card format.

YAML front matter (base model, pipeline tag, labels, data source and sizes, the metrics as a
`model-index`), then the training settings, the evaluation results (with the confusion matrix
of a classifier), and the intended use and known limits read from the run's own analysis
(summary.json: `errors`, `calibration`, `data`, `efficiency`). Written by the runner after
summary.json, so its numbers are summary.json's; `pretune report` does not need it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["card_metrics", "try_write_model_card", "write_model_card"]

# summary["task"] -> the Hugging Face pipeline tag.
PIPELINE_TAGS = {
    "classify": "text-classification",
    "ner": "token-classification",
    "qa": "question-answering",
    "mlm": "fill-mask",
    "clm": "text-generation",
    "sft": "text-generation",
    "rl": "text-generation",
    "image_classify": "image-classification",
    "mim": "image-feature-extraction",
    "multitask": "text-classification",
}
# Bundled short names of `model.init_from` -> the Hub id of the model they ship.
BASE_MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}


def card_metrics(summary: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """The split the card reports and its metrics: the test split's scalar metrics, or the
    last validation's when a recipe holds no test split (pretraining, SFT)."""
    for split in ("test", "validation"):
        metrics = summary.get(split)
        if isinstance(metrics, dict):
            scalars = {
                key: float(value)
                for key, value in metrics.items()
                if isinstance(value, int | float)
                and not isinstance(value, bool)
                and key not in ("step", "count")
            }
            if scalars:
                return split, scalars
    return "test", {}


def _front_matter(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    task = summary.get("task", summary.get("recipe", ""))
    pipeline = PIPELINE_TAGS.get(str(task))
    init_from = str(config.get("model", {}).get("init_from", ""))
    source = str(config.get("data", {}).get("source", ""))
    split, metrics = card_metrics(summary)
    front: dict[str, Any] = {"library_name": "transformers", "tags": ["pretune", summary["recipe"]]}
    if init_from:
        front["base_model"] = BASE_MODELS.get(init_from, init_from)
    if pipeline:
        front["pipeline_tag"] = pipeline
    if summary.get("labels"):
        front["labels"] = list(summary["labels"])
    if source:
        front["datasets"] = [source]
    sizes = _sizes(summary)
    if sizes:
        front["dataset_sizes"] = sizes
    if metrics:
        front["model-index"] = [{
            "name": config.get("name") or summary["recipe"],
            "results": [{
                "task": {"type": pipeline or str(task)},
                "dataset": {"name": source or "unknown", "type": source or "unknown",
                            "split": split},
                "metrics": [{"type": k, "value": v, "name": f"{split} {k}"}
                            for k, v in metrics.items()],
            }],
        }]  # fmt: skip
    return front


def _sizes(summary: dict[str, Any]) -> dict[str, int]:
    data = summary.get("data") or {}
    for key in ("sizes", "rows", "conversations"):
        sizes = data.get(key)
        if isinstance(sizes, dict) and all(isinstance(v, int) for v in sizes.values()):
            return dict(sizes)
    return {}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _training(config: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    train = config.get("train", {})
    keys = ("epochs", "max_steps", "batch_size", "grad_accum", "optimizer", "lr", "schedule",
            "warmup_ratio", "weight_decay", "loss", "mixed_precision")  # fmt: skip
    rows = [[f"train.{k}", train[k]] for k in keys if train.get(k) is not None]
    rows += [
        [f"techniques.{k}", json.dumps(v)] for k, v in (config.get("techniques") or {}).items()
    ]
    rows += [["steps run", summary.get("steps", "")], ["seed", config.get("seed", "")]]
    best = summary.get("best_validation")
    if best:
        rows.append(
            ["best validation", f"{best['metric']} {best['value']:.4f} at step {best['step']}"]
        )
    return ["## Training", "", *_table(["setting", "value"], rows), ""]


def _evaluation(summary: dict[str, Any]) -> list[str]:
    split, metrics = card_metrics(summary)
    lines = [f"## Evaluation ({split} split)", ""]
    if not metrics:
        return [*lines, "No held-out metrics were computed by this run.", ""]
    lines += _table(["metric", "value"], [[k, f"{v:.4f}"] for k, v in metrics.items()])
    matrix = (summary.get(split) or {}).get("confusion_matrix")
    labels = summary.get("labels") or []
    if matrix and len(labels) == len(matrix):
        lines += ["", "Confusion matrix (rows: true label, columns: predicted):", ""]
        rows = [[label, *row] for label, row in zip(labels, matrix, strict=True)]
        lines += _table(["true \\ predicted", *labels], rows)
    return [*lines, ""]


def _limits(summary: dict[str, Any]) -> list[str]:
    """Known limits, each taken from the run's own analysis."""
    found = []
    errors = summary.get("errors") or {}
    per_class = errors.get("per_class_error") or {}
    if per_class:
        worst = max(per_class, key=per_class.get)
        found.append(f"Weakest class: `{worst}` (test error rate {per_class[worst]:.2f}).")
    for pair in (errors.get("confused_pairs") or [])[:3]:
        found.append(f"`{pair['true']}` is mistaken for `{pair['predicted']}` "
                     f"({pair['count']} test examples).")  # fmt: skip
    flagged = errors.get("possible_label_errors") or []
    if flagged:
        found.append(f"{len(flagged)} test examples look mislabelled (confident disagreement).")
    truncated = (summary.get("data") or {}).get("truncated_fraction") or {}
    if truncated.get("test"):
        found.append(f"{truncated['test']:.0%} of test texts were cut to model.max_length tokens.")
    ece = (summary.get("calibration") or {}).get("ece")
    if ece is not None:
        found.append(f"Calibration error (ECE) on test: {ece:.3f}.")
    latency = (summary.get("efficiency") or {}).get("latency_ms_p50")
    if latency is not None:
        found.append(f"Median latency {latency} ms per example on the training machine.")
    return found or ["The run recorded no analysis of its errors."]


def render_model_card(config: dict[str, Any], summary: dict[str, Any]) -> str:
    """The card's text: front matter, then the sections."""
    front = yaml.safe_dump(_front_matter(config, summary), sort_keys=False, allow_unicode=True)
    source = config.get("data", {}).get("source", "its data")
    labels = summary.get("labels") or []
    use = f"Trained by `pretune {summary['recipe']}` on `{source}`"
    use += f" to predict one of: {', '.join(labels)}." if labels else "."
    lines = [f"---\n{front}---", "", f"# {config.get('name') or summary['recipe']}", "",
             "## Intended use", "", use + " Use it on text like that data; check it on your "
             "own data before relying on it (the report, report.html, shows the analysis).", "",
             *_training(config, summary), *_evaluation(summary), "## Known limits", "",
             *[f"- {item}" for item in _limits(summary)], ""]  # fmt: skip
    return "\n".join(lines)


def write_model_card(run_dir: Path) -> Path:
    """Write `<run>/model/README.md` from the run's config.yaml and summary.json."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    path = run_dir / "model" / "README.md"
    path.write_text(render_model_card(config, summary), encoding="utf-8")
    return path


def try_write_model_card(run_dir: Path, log: Callable[[str], Any] = print) -> Path | None:
    """`write_model_card` when the run saved a `model/`; a failure is one warning line."""
    if not (Path(run_dir) / "model").is_dir():
        return None
    try:
        return write_model_card(run_dir)
    except Exception as exc:  # the run and its model are kept whatever the card does
        log(f"warning: model/README.md not written ({type(exc).__name__}: {exc})")
        return None
