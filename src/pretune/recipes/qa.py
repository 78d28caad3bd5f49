"""Recipe: extractive question answering (SQuAD-style) with a new span head.

    questions + contexts -> split by context -> windows with stride -> *ForQuestionAnswering
    -> QATask -> fit (the one loop) -> best span per question -> exact match / F1 -> model/

`predict_answers` returns the answer text (and its character span) for new questions.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pretune.data.batching import inference_batches
from pretune.data.encode import TrainBatches
from pretune.data.squad import (
    EncodedQA,
    QAExample,
    best_answers,
    best_spans,
    encode_qa,
    load_qa_source,
    split_by_context,
)
from pretune.errors import DataError
from pretune.metrics.squad import squad_scores
from pretune.models.load import load_tokenizer, resolve_model_path
from pretune.models.settings import load_head_model
from pretune.recipes._annotated import open_finished_run, split_with_files
from pretune.recipes._runner import recipe
from pretune.tasks.qa import QATask
from pretune.train.session import Session

__all__ = ["evaluate_qa", "predict_answers", "predict_spans", "prepare_qa_data", "run_qa"]


def prepare_qa_data(cfg: Any) -> dict[str, list[QAExample]]:
    d = cfg.data
    per = cfg.qa.max_questions_per_context
    splits = split_with_files(cfg, lambda path: load_qa_source(path, per), split_by_context)
    if d.max_train_examples and d.max_train_examples < len(splits["train"]):
        # A seeded random subset: the source order may be grouped (BBC is sorted by topic).
        keep = random.Random(cfg.seed).sample(range(len(splits["train"])), d.max_train_examples)
        splits["train"] = [splits["train"][i] for i in sorted(keep)]
    for key, exs in splits.items():
        dupes = [qid for qid, c in Counter(ex.id for ex in exs).items() if c > 1]
        if dupes:
            raise DataError(f"{key} split: question id(s) {', '.join(dupes[:5])} repeat")
    if not splits["train"]:
        raise DataError(f"data.source={d.source}: no training questions")
    return splits


def predict_spans(
    model: Any, encoded: EncodedQA, batch_size: int, device: Any
) -> tuple[list[list[float]], list[list[float]], float]:
    """Start and end logits of every window, and the mean loss over windows."""
    was_training = model.training
    model.eval()
    starts: list[list[float]] = [[] for _ in range(len(encoded))]
    ends: list[list[float]] = [[] for _ in range(len(encoded))]
    loss_sum = 0.0
    task = QATask(model)
    for indices in inference_batches(encoded.lengths, batch_size):
        batch = {k: v.to(device) for k, v in encoded.load(indices).items()}
        with torch.inference_mode():
            out = task(batch)
        loss_sum += float(out["loss"]) * len(indices)
        logits = out["logits"].float().cpu()
        for row, i in enumerate(indices):
            k = len(encoded.input_ids[i])
            starts[i] = logits[row, :k, 0].tolist()
            ends[i] = logits[row, :k, 1].tolist()
    model.train(was_training)
    return starts, ends, loss_sum / max(len(encoded), 1)


def evaluate_qa(
    model: Any,
    encoded: EncodedQA,
    examples: Sequence[QAExample],
    cfg: Any,
    device: Any,
) -> dict[str, Any]:
    """SQuAD exact match and F1 (percent) over questions, plus the window loss."""
    starts, ends, loss = predict_spans(model, encoded, cfg.eval.batch_size, device)
    answers = best_answers(examples, encoded, starts, ends, n_best=cfg.qa.n_best,
                           max_answer_length=cfg.qa.max_answer_length)  # fmt: skip
    scores = squad_scores(answers, {ex.id: ex.answers for ex in examples})
    return {**scores, "loss": loss, "windows": len(encoded)}


@recipe("qa")
def run_qa(cfg: Any, session: Session) -> dict[str, Any]:
    """Train a span-extraction model, test it, save `model/`; returns the summary."""
    from transformers import AutoModelForQuestionAnswering

    model_path = resolve_model_path(cfg.model.init_from)
    splits = prepare_qa_data(cfg)
    tokenizer = load_tokenizer(model_path)
    m = cfg.model
    encoded = {k: encode_qa(tokenizer, exs, m.max_length, cfg.qa.stride)
               for k, exs in splits.items()}  # fmt: skip
    with_answer = sum(s > 0 for s in encoded["train"].starts)
    session.log(
        "splits: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + " questions; "
        f"{len(encoded['train'])} training windows ({with_answer} hold their answer)"
    )  # fmt: skip
    model = load_head_model(AutoModelForQuestionAnswering, model_path, m, None)
    evaluate = None
    if splits["validation"]:

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            return evaluate_qa(task.model, encoded["validation"], splits["validation"], cfg,
                               device)  # fmt: skip

    t = cfg.train
    trained = session.train(
        model, QATask, TrainBatches(encoded["train"], t.batch_size, cfg.seed, t.group_by_length),
        evaluate=evaluate,
    )  # fmt: skip
    if not trained.main_process:
        return {}
    test: dict[str, Any] = {}
    if splits["test"]:
        test = evaluate_qa(trained.model, encoded["test"], splits["test"], cfg, trained.device)
    session.save_model(trained.model, tokenizer)
    return {
        "task": "qa",
        "source": cfg.data.source,
        "test": test,
        "data": {
            "sizes": {k: len(v) for k, v in splits.items()},
            "windows": {k: len(e) for k, e in encoded.items()},
            "train_windows_with_answer": with_answer,
        },
    }


def predict_answers(
    run_dir: Path, items: Sequence[dict[str, str]], batch_size: int = 32
) -> list[dict[str, Any]]:
    """Answers for [{"question", "context"(, "id")}]: [{"id", "answer", "start", "end"}]."""
    from transformers import AutoModelForQuestionAnswering

    model, tokenizer, saved = open_finished_run(run_dir, AutoModelForQuestionAnswering, "qa")
    model_cfg, qa_cfg = saved.get("model") or {}, saved.get("qa") or {}
    examples = [
        QAExample(str(item.get("id", i)), item["question"], item["context"], [""], [0])
        for i, item in enumerate(items)
    ]
    encoded = encode_qa(tokenizer, examples, model_cfg.get("max_length", 128),
                        qa_cfg.get("stride", 32))  # fmt: skip
    starts, ends, _ = predict_spans(model, encoded, batch_size, torch.device("cpu"))
    spans = best_spans(examples, encoded, starts, ends, qa_cfg.get("n_best", 20),
                       qa_cfg.get("max_answer_length", 30))  # fmt: skip
    out = []
    for ex in examples:
        start, end = spans[ex.id]
        out.append({"id": ex.id, "answer": ex.context[start:end], "start": start, "end": end})
    return out
