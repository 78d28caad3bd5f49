"""Recipe: named-entity recognition (token classification) on CoNLL/IOB or JSONL-span data.

    examples (words + IOB2 tags) -> split -> sub-word alignment -> *ForTokenClassification
    (a new head) -> NerTask -> fit (the one loop) -> entity P/R/F1 on test -> model/ + summary

Evaluation is per word: the prediction for a word is its first sub-token's, a word cut off by
`model.max_length` counts as predicted `O`, and entities are scored as seqeval does
(`metrics/seqeval.py`). `predict_entities` returns character spans on the original text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pretune.config import save_config
from pretune.data.batching import inference_batches
from pretune.data.conll import (
    EncodedNer,
    NerExample,
    encode_ner,
    label_set,
    load_ner_source,
    spans_from_tags,
    split_examples,
    words_of_text,
)
from pretune.data.encode import TrainBatches
from pretune.errors import DataError
from pretune.files import write_json_atomic
from pretune.metrics.seqeval import Chunking, entity_scores
from pretune.models.load import load_tokenizer, resolve_model_path
from pretune.process_state import leaves_process_as_found
from pretune.recipes.ner_config import NerConfig
from pretune.recipes.qa_ner_shared import load_head_model, train_to_best
from pretune.report import try_write_report
from pretune.tasks.ner import NerTask
from pretune.train.run_folder import create_run_dir, environment, open_run_for_resume
from pretune.train.session import save_final_model, set_determinism

__all__ = ["evaluate_ner", "load_ner_run", "predict_entities", "predict_tags", "run_ner"]


def prepare_ner_data(cfg: NerConfig) -> dict[str, list[NerExample]]:
    """Train/validation/test examples from data.source (+ optional separate files)."""
    d, n = cfg.data, cfg.ner
    examples = load_ner_source(d.source, n.token_column, n.tag_column)
    splits = split_examples(
        examples,
        0.0 if d.validation_file else d.val_fraction,
        0.0 if d.test_file else d.test_fraction,
        cfg.seed,
    )
    for key, path in (("validation", d.validation_file), ("test", d.test_file)):
        if path:
            splits[key] = load_ner_source(path, n.token_column, n.tag_column)
    if d.max_train_examples and d.max_train_examples < len(splits["train"]):
        splits["train"] = split_examples(splits["train"], 0.0, 0.0, cfg.seed)["train"][
            : d.max_train_examples
        ]
    if not any(t != "O" for ex in splits["train"] for t in ex.tags):
        raise DataError(f"data.source={d.source}: the training split has no entities")
    return splits


def predict_tags(
    model: Any,
    encoded: EncodedNer,
    label_names: Sequence[str],
    batch_size: int,
    device: Any,
) -> tuple[list[list[str]], float]:
    """Word-level predicted tags (a word without a token -> O) and the mean token loss."""
    was_training = model.training
    model.eval()
    tags: list[list[str]] = [[] for _ in range(len(encoded))]
    loss_sum, tokens = 0.0, 0
    for indices in inference_batches(encoded.lengths, batch_size):
        batch = {k: v.to(device) for k, v in encoded.load(indices).items()}
        labels = batch.pop("labels")
        with torch.inference_mode():
            logits = model(**batch).logits.float()
        counted = labels != -100
        if bool(counted.any()):
            loss = torch.nn.functional.cross_entropy(
                logits[counted], labels[counted], reduction="sum"
            )
            loss_sum += float(loss)
            tokens += int(counted.sum())
        best = logits.argmax(-1).cpu().tolist()
        for row, i in enumerate(indices):
            tags[i] = ["O" if p < 0 else label_names[best[row][p]] for p in encoded.word_starts[i]]
    model.train(was_training)
    return tags, loss_sum / max(tokens, 1)


def evaluate_ner(
    model: Any,
    encoded: EncodedNer,
    examples: Sequence[NerExample],
    label_names: Sequence[str],
    batch_size: int,
    device: Any,
    chunking: Chunking = "strict",
) -> dict[str, Any]:
    """Entity micro P/R/F1, macro F1, per-type scores, token accuracy and loss."""
    predicted, loss = predict_tags(model, encoded, label_names, batch_size, device)
    scores = entity_scores([ex.tags for ex in examples], predicted, chunking)
    return {**scores, "loss": loss, "count": len(examples)}


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    # What the loop logs each evaluation: the numbers, not the per-type table.
    return {k: v for k, v in metrics.items() if k != "per_type"}


@leaves_process_as_found()
def run_ner(
    cfg: NerConfig,
    *,
    resume: Path | None = None,
    recipe: str = "ner",
    log: Any = print,
    live_progress: bool | None = None,
    extra_handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train a token classifier, test it, save `model/`, `summary.json` and the report."""
    from transformers import AutoModelForTokenClassification

    started = time.perf_counter()
    if resume is not None:
        cfg = open_run_for_resume(resume, schema=NerConfig)  # type: ignore[assignment]
    set_determinism(cfg)
    model_path = resolve_model_path(cfg.model.init_from)
    splits = prepare_ner_data(cfg)
    # Types seen only in validation/test still get outputs (they are scored, never predicted).
    labels = label_set([ex for exs in splits.values() for ex in exs])
    tokenizer = load_tokenizer(model_path)
    m, n = cfg.model, cfg.ner
    encoded = {
        key: encode_ner(tokenizer, exs, labels, m.max_length, n.label_all_subtokens)
        for key, exs in splits.items()
    }
    kinds = sorted({lab[2:] for lab in labels if lab != "O"})
    log(
        "splits: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        + f" sentences; entity types: {', '.join(kinds)}"
    )  # fmt: skip
    cut = encoded["train"].truncated_words
    if cut:
        log(f"note: {cut} training words fall beyond model.max_length={m.max_length} tokens")
    model = load_head_model(AutoModelForTokenClassification, model_path, m, labels)
    run_dir = resume if resume is not None else create_run_dir(cfg, recipe)
    save_config(cfg, run_dir / "config.yaml")
    evaluate = None
    if splits["validation"]:

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            v = evaluate_ner(task.model, encoded["validation"], splits["validation"], labels,
                             cfg.eval.batch_size, device, n.chunking)  # fmt: skip
            return _flat(v)

    rows = TrainBatches(encoded["train"], cfg.train.batch_size, cfg.seed, cfg.train.group_by_length)
    trained, _ = train_to_best(
        cfg, run_dir, model, lambda mod: NerTask(mod, labels, n.chunking), rows, evaluate,
        recipe=recipe, resume=resume is not None, log=log, live=live_progress,
        extra_handlers=extra_handlers,
    )  # fmt: skip
    test: dict[str, Any] = {}
    if splits["test"]:
        test = evaluate_ner(trained.model, encoded["test"], splits["test"], labels,
                            cfg.eval.batch_size, trained.device, n.chunking)  # fmt: skip
        # Report sections read test.per_class; micro_f1 is the entity-level micro F1.
        test["per_class"] = test.pop("per_type")
        test["micro_f1"] = test["f1"]
    save_final_model(trained.model, tokenizer, run_dir)
    state = trained.state
    summary = {
        "recipe": recipe,
        "task": "ner",
        "labels": labels,
        "entity_types": kinds,
        "chunking": n.chunking,
        "test": test,
        "best_validation": {
            "metric": cfg.eval.metric, "value": state.best_metric, "step": state.best_step,
        },
        "steps": state.step,
        "epochs": round(state.epoch + state.batch_in_epoch / max(1, len(rows.epoch_batches(0))), 3),
        "data": {
            "sizes": {k: len(v) for k, v in splits.items()},
            "words": {k: sum(len(ex.words) for ex in v) for k, v in splits.items()},
            "truncated_words": {k: e.truncated_words for k, e in encoded.items()},
        },
        "timing": {
            "train_seconds": round(trained.train_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
            "train_examples_per_s": round(
                state.examples_seen / max(trained.train_seconds, 1e-9), 2
            ),
        },
        "environment": environment(),
    }  # fmt: skip
    write_json_atomic(run_dir / "summary.json", summary)
    try_write_report(run_dir, log)
    summary["run_dir"] = str(run_dir)
    return summary


# ---------------------------------------------------------------------------------------------
# Prediction


def load_ner_run(run_dir: Path) -> tuple[Any, Any, list[str], Chunking, int]:
    """(model, tokenizer, label names, chunking, max_length) of a finished NER run folder."""
    import yaml
    from transformers import AutoModelForTokenClassification

    from pretune.errors import CheckpointError

    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").is_file():
        raise CheckpointError(f"{run_dir}: no model/ folder; is it a finished `pretune ner` run?")
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    config_path = Path(run_dir) / "config.yaml"
    saved = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    chunking = (saved.get("ner") or {}).get("chunking", "strict")
    max_length = (saved.get("model") or {}).get("max_length", 128)
    return model, load_tokenizer(model_dir), labels, chunking, max_length


def examples_from_texts(texts: Sequence[str]) -> list[NerExample]:
    """Raw texts as unlabelled examples (words found by `words_of_text`)."""
    out = []
    for text in texts:
        spans = words_of_text(text)
        out.append(NerExample(text, [text[s:e] for s, e in spans], spans, ["O"] * len(spans)))
    return out


def predict_entities(
    run_dir: Path, texts: Sequence[str], batch_size: int = 32
) -> list[list[dict[str, Any]]]:
    """Entities of each text as [{"start", "end", "label", "text"}] character spans."""
    model, tokenizer, labels, chunking, max_length = load_ner_run(run_dir)
    examples = examples_from_texts(texts)
    nonempty = [i for i, ex in enumerate(examples) if ex.words]
    picked = [examples[i] for i in nonempty]
    out: list[list[dict[str, Any]]] = [[] for _ in texts]
    if not picked:
        return out
    encoded = encode_ner(tokenizer, picked, labels, max_length)
    tags, _ = predict_tags(model, encoded, labels, batch_size, torch.device("cpu"))
    for i, ex, t in zip(nonempty, picked, tags, strict=True):
        out[i] = spans_from_tags(ex, t, chunking)
    return out
