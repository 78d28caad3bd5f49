"""Recipe: named-entity recognition (token classification) on CoNLL/IOB or JSONL-span data.

    examples (words + IOB2 tags) -> split -> sub-word alignment -> *ForTokenClassification
    (a new head) -> NerTask -> fit (the one loop) -> entity P/R/F1 on test -> model/ + summary

Evaluation is per word: the prediction for a word is its first sub-token's, a word cut off by
`model.max_length` counts as predicted `O`, and entities are scored as seqeval does
(`metrics/seqeval.py`). `predict_entities` returns character spans on the original text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

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
from pretune.metrics.seqeval import Chunking, entity_scores
from pretune.models.load import load_tokenizer, resolve_model_path
from pretune.models.settings import load_head_model
from pretune.recipes._annotated import open_finished_run, split_with_files
from pretune.recipes._runner import recipe
from pretune.tasks.ner import NerTask
from pretune.train.session import Session

__all__ = ["evaluate_ner", "load_ner_run", "predict_entities", "predict_tags", "run_ner"]


def prepare_ner_data(cfg: Any) -> dict[str, list[NerExample]]:
    """Train/validation/test examples from data.source (+ optional separate files)."""
    d, n = cfg.data, cfg.ner
    splits = split_with_files(
        cfg, lambda path: load_ner_source(path, n.token_column, n.tag_column), split_examples
    )
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


def _ner_test(cfg: Any, trained: Any, encoded: dict, splits: dict, labels: list[str]) -> dict:
    if not splits["test"]:
        return {}
    test = evaluate_ner(trained.model, encoded["test"], splits["test"], labels,
                        cfg.eval.batch_size, trained.device, cfg.ner.chunking)  # fmt: skip
    # Report sections read test.per_class; micro_f1 is the entity-level micro F1.
    test["per_class"] = test.pop("per_type")
    test["micro_f1"] = test["f1"]
    return test


@recipe("ner")
def run_ner(cfg: Any, session: Session) -> dict[str, Any]:
    """Train a token classifier, test it, save `model/`; returns the summary."""
    from transformers import AutoModelForTokenClassification

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
    session.log(
        "splits: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        + f" sentences; entity types: {', '.join(kinds)}"
    )  # fmt: skip
    if cut := encoded["train"].truncated_words:
        session.log(f"note: {cut} training words fall beyond model.max_length={m.max_length}")
    model = load_head_model(AutoModelForTokenClassification, model_path, m, labels)
    evaluate = None
    if splits["validation"]:

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            v = evaluate_ner(task.model, encoded["validation"], splits["validation"], labels,
                             cfg.eval.batch_size, device, n.chunking)  # fmt: skip
            return _flat(v)

    t = cfg.train
    trained = session.train(
        model, lambda mod: NerTask(mod, labels, n.chunking),
        TrainBatches(encoded["train"], t.batch_size, cfg.seed, t.group_by_length),
        evaluate=evaluate,
    )  # fmt: skip
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    return {
        "task": "ner", "labels": labels, "entity_types": kinds, "chunking": n.chunking,
        "test": _ner_test(cfg, trained, encoded, splits, labels),
        "data": {
            "sizes": {k: len(v) for k, v in splits.items()},
            "words": {k: sum(len(ex.words) for ex in v) for k, v in splits.items()},
            "truncated_words": {k: e.truncated_words for k, e in encoded.items()},
        },
    }  # fmt: skip


def load_ner_run(run_dir: Path) -> tuple[Any, Any, list[str], Chunking, int]:
    """(model, tokenizer, label names, chunking, max_length) of a finished NER run folder."""
    from transformers import AutoModelForTokenClassification

    model, tokenizer, saved = open_finished_run(run_dir, AutoModelForTokenClassification, "ner")
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    chunking = (saved.get("ner") or {}).get("chunking", "strict")
    max_length = (saved.get("model") or {}).get("max_length", 128)
    return model, tokenizer, labels, chunking, max_length


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
