"""Recipe: fine-tune a pre-trained encoder for text classification.

    prepare_data -> classifier and ClassifyTask -> session.train (the one loop) -> test -> save

Callable from Python (`run_finetune(config)`, `pretune.finetune(...)`) and from the CLI
(`pretune finetune`, and `pretune quickstart`, which is this recipe with its defaults: MiniLM on
BBC News).
"""

from __future__ import annotations

from typing import Any

from pretune.data.encode import TrainBatches
from pretune.data.text_classification import (
    encode_splits,
    prepare_data,
    report_data,
)
from pretune.evaluate.analysis import classifier_summary
from pretune.evaluate.evaluator import split_evaluator
from pretune.models.load import load_tokenizer, resolve_model_path
from pretune.models.settings import build_classifier
from pretune.recipes._runner import recipe
from pretune.tasks.classify import classify_task_factory
from pretune.train.session import Session

__all__ = ["run_finetune"]


@recipe("finetune")
def run_finetune(cfg: Any, session: Session) -> dict[str, Any]:
    """Fine-tune, evaluate on test, save `model/`; returns the summary."""
    model_path = resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    data = prepare_data(cfg.data, cfg.seed)
    tokenizer = load_tokenizer(model_path)
    encoded = encode_splits(tokenizer, data, cfg.model.max_length)
    report_data(data, encoded, cfg.model.max_length, session.log)
    model = build_classifier(cfg.model, model_path, data.label_names)
    t = cfg.train
    trained = session.train(
        model,
        classify_task_factory(cfg.train, data.label_names, encoded["train"].labels or []),
        TrainBatches(encoded["train"], t.batch_size, cfg.seed, t.group_by_length),
        evaluate=split_evaluator(encoded["validation"], cfg.eval.batch_size, data.label_names),
    )
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    return classifier_summary(cfg, trained, data, encoded)
