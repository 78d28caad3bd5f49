"""Recipe: pre-train a language model (masked or causal), from a size preset or a checkpoint.

    texts (labels ignored) -> tokenizer (trained, given, or the checkpoint's) -> packed windows
    -> model (preset or init_from) -> task (mlm / clm) -> fit (the one loop) -> model/ + summary

Callable from Python (`run_pretrain(config)`) and from the CLI (`pretune pretrain`). The run
folder is a normal one (config.yaml, metrics.jsonl, checkpoints/, model/, summary.json), plus
tokenizer/ when the tokenizer was trained here, and `--resume` continues it exactly.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.config import save_config
from pretune.data.batching import inference_batches
from pretune.data.clean import clean_dataset
from pretune.data.masking import CausalLabels, MLMMasking
from pretune.data.packing import (
    LMSplit,
    LMTrainBatches,
    Prepare,
    batch_generator,
    encode_documents,
    pack_documents,
    padding_fraction,
)
from pretune.data.sources import load_source
from pretune.data.split import split_dataset
from pretune.errors import ConfigError, DataError
from pretune.files import write_json_atomic
from pretune.models.load import _quiet_transformers, load_tokenizer, resolve_model_path
from pretune.models.presets import build_lm, load_lm
from pretune.process_state import leaves_process_as_found
from pretune.recipes.pretrain_config import PretrainConfig
from pretune.report import try_write_report
from pretune.tasks.clm import CLMTask
from pretune.tasks.mlm import MLMTask
from pretune.tokenization.train import measure_tokenizer, train_tokenizer
from pretune.train.loop import fit
from pretune.train.run_folder import create_run_dir, environment, open_run_for_resume
from pretune.train.session import (
    bind_task_model,
    build_training,
    export_model,
    make_accelerator,
    prepare_techniques,
    resume_training,
    save_final_model,
    set_determinism,
    standard_handlers,
)

__all__ = ["PretrainConfig", "build_lm_split", "evaluate_lm", "load_texts", "run_pretrain"]

_EVAL_EPOCH = 1_000_000  # validation masks come from their own (fixed) random stream


# ---------------------------------------------------------------------------------------------
# Data


def _texts(cfg: PretrainConfig, source: str, labels: bool = False) -> Any:
    """The cleaned corpus; with `labels`, the label column too when the source has one."""
    d = cfg.data

    def load(label_column: str | None) -> Any:
        return load_source(
            source,
            text_column=d.text_column,
            label_column=label_column,
            encoding_errors=d.encoding_errors,
        )

    try:
        dataset = load(d.label_column if labels else None)
    except DataError:
        if not labels:
            raise
        dataset = load(None)  # unlabelled text: the test split is carved off unstratified
    if "text" not in dataset.column_names:
        raise DataError(f"data.source={source} has no text column; pre-training needs text")
    c = cfg.data.clean
    dataset, _ = clean_dataset(
        dataset,
        drop_empty=c.drop_empty,
        dedupe=c.dedupe,
        min_chars=c.min_chars,
        max_chars=c.max_chars,
        has_label="label" in dataset.column_names,
        source_name=source,
    )
    if len(dataset) == 0:
        raise DataError(f"data.source={source}: the corpus is empty (no text after cleaning)")
    return dataset


def load_texts(cfg: PretrainConfig) -> dict[str, list[str]]:
    """Train and validation texts (labels ignored); a DataError for an empty corpus.

    With `data.test_fraction > 0` the split is the one `pretune finetune` makes with the same
    data settings and seed (labels loaded only to stratify it, as finetune does), and the test
    split is dropped: pre-training never sees the articles such a fine-tuning run tests on.
    """
    d = cfg.data
    hold_test = d.test_fraction > 0
    dataset = _texts(cfg, d.source, labels=hold_test)
    val = 0.0 if d.validation_file else d.val_fraction
    splits = split_dataset(
        dataset, val_fraction=val, test_fraction=d.test_fraction, seed=cfg.seed, stratify=hold_test
    )
    texts = {key: list(splits[key]["text"][:]) for key in ("train", "validation")}
    if d.validation_file:
        texts["validation"] = list(_texts(cfg, d.validation_file)["text"][:])
    if d.max_train_examples and d.max_train_examples < len(texts["train"]):
        texts["train"] = random.Random(cfg.seed).sample(texts["train"], d.max_train_examples)
    return texts


def _frame_ids(tokenizer: Any, objective: str) -> tuple[int, list[int], list[int]]:
    """(separator, window prefix, window suffix): [SEP] and [CLS] x [SEP] for mlm; EOS for clm."""
    ids = (tokenizer.sep_token_id, tokenizer.eos_token_id)
    separator = next((i for i in (ids if objective == "mlm" else ids[::-1]) if i is not None), None)
    if separator is None:
        raise ConfigError("the tokenizer has neither a sep nor an eos token to separate documents")
    if objective == "clm":
        return separator, [], []
    cls = tokenizer.cls_token_id
    return separator, [cls] if cls is not None else [], [separator]


def build_lm_split(
    tokenizer: Any, texts: Sequence[str], objective: str, max_length: int, packing: bool
) -> LMSplit:
    """Tokenise `texts` into packed windows of `max_length` or one framed document per row."""
    docs, starts = encode_documents(tokenizer, texts)
    separator, prefix, suffix = _frame_ids(tokenizer, objective)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else separator
    if packing:
        ids, words, dropped = pack_documents(
            docs, starts, window=max_length, separator=separator, prefix=prefix, suffix=suffix
        )
        return LMSplit(ids, words, pad, dropped)
    tail = suffix or [separator]
    body = max_length - len(prefix) - len(tail)
    rows = [prefix + d[:body] + tail for d in docs if d]
    flags = [
        [True] * len(prefix) + s[:body] + [True] * len(tail)
        for d, s in zip(docs, starts, strict=True)
        if d
    ]
    if not rows:
        raise DataError("the corpus has no tokens after tokenisation")
    return LMSplit(rows, flags, pad)


def _prepare_batches(cfg: PretrainConfig, tokenizer: Any) -> Prepare:
    if cfg.objective == "clm":
        return CausalLabels()
    if tokenizer.mask_token_id is None:
        raise ConfigError("objective=mlm needs a tokenizer with a mask token ([MASK] or <mask>)")
    p = cfg.pretrain
    return MLMMasking(
        tokenizer.mask_token_id,
        len(tokenizer),
        tuple(tokenizer.all_special_ids),
        p.mlm_probability,
        p.mask_ratio,
        p.random_ratio,
        p.whole_word_masking,
    )


# ---------------------------------------------------------------------------------------------
# Tokenizer and model


def _tokenizer(cfg: PretrainConfig, run_dir: Path, texts: list[str], log: Any) -> tuple[Any, dict]:
    """The run's tokenizer, and the held-out report when it was trained here."""
    saved = run_dir / "tokenizer"
    if saved.is_dir():  # resuming: the tokenizer this run trained, and its report
        report = saved / "tokenizer_report.json"
        return load_tokenizer(saved), json.loads(report.read_text()) if report.is_file() else {}
    if cfg.pretrain.tokenizer:
        return load_tokenizer(Path(cfg.pretrain.tokenizer)), {}
    if cfg.model.init_from:
        return load_tokenizer(resolve_model_path(cfg.model.init_from)), {}
    p = cfg.pretrain
    kind = p.tokenizer_type or ("wordpiece" if cfg.objective == "mlm" else "bpe")
    held_out = max(1, len(texts) // 20)  # the report is measured on texts it did not see
    fit_on = texts[:-held_out] if len(texts) > 1 else texts
    tokenizer = train_tokenizer(
        fit_on,
        kind,
        vocab_size=p.vocab_size,
        lowercase=p.lowercase,
        max_length=cfg.model.max_length,
    )
    report = {"type": kind, **measure_tokenizer(tokenizer, texts[-held_out:]).to_dict()}
    tokenizer.save_pretrained(str(saved))
    write_json_atomic(saved / "tokenizer_report.json", report)
    log(
        f"trained a {kind} tokenizer ({len(tokenizer)} tokens): unknown-token rate "
        f"{report['unknown_rate']:.4%}, {report['tokens_per_word']:.2f} tokens/word"
    )
    return tokenizer, report


def _model(cfg: PretrainConfig, tokenizer: Any, log: Any) -> Any:
    if cfg.model.init_from:
        path = resolve_model_path(cfg.model.init_from)
        return load_lm(path, cfg.objective, tokenizer, cfg.model.max_length, log)
    return build_lm(cfg.pretrain.preset or "tiny", cfg.objective, tokenizer, cfg.model.max_length)


# ---------------------------------------------------------------------------------------------
# The run


def evaluate_lm(
    task: Any, split: LMSplit, prepare: Prepare, batch_size: int, seed: int, device: Any
) -> dict[str, Any]:
    """Token-level loss, accuracy and perplexity on `split`, batch by batch (fixed masks)."""
    import torch

    model = task.model
    was_training = model.training
    model.eval()
    metrics = task.new_metrics()
    for position, indices in enumerate(inference_batches(split.lengths, batch_size)):
        batch = prepare(split.load(indices), batch_generator(seed, _EVAL_EPOCH, position))
        with torch.inference_mode():
            metrics.update(task({k: v.to(device) for k, v in batch.items()}))
    model.train(was_training)
    return metrics.compute()


@leaves_process_as_found()
def run_pretrain(
    cfg: PretrainConfig,
    *,
    resume: Path | None = None,
    recipe: str = "pretrain",
    log: Any = print,
    live_progress: bool | None = None,
    extra_handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Pre-train, save `model/` (+ tokenizer) and `summary.json`; returns the summary.

    Args:
        cfg: the run config (ignored when resuming: the run's saved config is used).
        resume: an unfinished run folder to continue from its newest intact checkpoint.
        recipe: the name used for new run folders.
        log: where progress messages go (a print-like function).
        live_progress: force the live progress bar on/off (default: only on a terminal).
        extra_handlers: more loop handlers, called after the standard ones (e.g. in tests).
    """
    started = time.perf_counter()
    _quiet_transformers()
    if resume is not None:
        cfg = open_run_for_resume(resume, schema=PretrainConfig)  # type: ignore[assignment]
    set_determinism(cfg)
    if cfg.model.init_from:
        resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    texts = load_texts(cfg)
    run_dir = resume if resume is not None else create_run_dir(cfg, recipe)
    save_config(cfg, run_dir / "config.yaml")
    tokenizer, tokenizer_report = _tokenizer(cfg, run_dir, texts["train"], log)
    m = cfg.model
    splits = {
        key: build_lm_split(tokenizer, t, cfg.objective, m.max_length, cfg.pretrain.packing)
        for key, t in texts.items()
        if t
    }
    model = _model(cfg, tokenizer, log)
    if m.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    techniques, model = prepare_techniques(cfg, model)
    task: Any = (MLMTask if cfg.objective == "mlm" else CLMTask)(model)
    for technique in techniques:
        task = technique.wrap_task(task)
    prepare = _prepare_batches(cfg, tokenizer)
    train_data = LMTrainBatches(
        splits["train"], cfg.train.batch_size, cfg.seed, prepare, cfg.train.group_by_length
    )
    padding = padding_fraction(splits["train"], train_data.epoch_batches(0))
    log(
        f"{cfg.objective}: {len(texts['train'])} documents -> {len(splits['train'])} rows of "
        f"<= {m.max_length} tokens ({'packed' if cfg.pretrain.packing else 'unpacked'}), "
        f"padding {padding:.1%}"
    )
    training = build_training(cfg, model, len(train_data.epoch_batches(0)), techniques)
    previous_seconds = 0.0
    if resume is not None:
        previous_seconds = resume_training(training, run_dir, recipe, log).get("train_seconds", 0.0)

    state = training.state
    accelerator = make_accelerator(cfg)
    state.model, state.optimizer = accelerator.prepare(state.model, state.optimizer)
    bind_task_model(task, state.model)  # DDP-wrapped when several processes run
    train_started = time.perf_counter()

    def elapsed() -> dict[str, float]:
        return {"train_seconds": previous_seconds + time.perf_counter() - train_started}

    handlers = standard_handlers(
        cfg, run_dir, training, has_validation=False, elapsed=elapsed, live=live_progress
    ) + list(extra_handlers)
    evaluate = None
    if "validation" in splits:

        def evaluate() -> dict[str, Any]:
            return evaluate_lm(
                task,
                splits["validation"],
                prepare,
                cfg.eval.batch_size,
                cfg.seed,
                accelerator.device,
            )

    fit(state, task, train_data, training.plan, accelerator, handlers, evaluate)
    train_seconds = elapsed()["train_seconds"]
    model = export_model(accelerator.unwrap_model(state.model), training.techniques)
    save_final_model(model, tokenizer, run_dir)
    data = {
        "documents": {key: len(t) for key, t in texts.items()},
        "rows": {key: len(split) for key, split in splits.items()},
        "packing": cfg.pretrain.packing,
        "padding_fraction": round(padding, 4),
        "dropped_tail_tokens": splits["train"].dropped_tokens,
    }
    summary = _summary(
        cfg,
        state,
        model,
        data,
        tokenizer_report or {"vocab_size": len(tokenizer)},
        train_seconds,
        started,
    )
    write_json_atomic(run_dir / "summary.json", summary)
    try_write_report(run_dir, log)  # never raises: a failed report must not lose the run
    summary["run_dir"] = str(run_dir)
    return summary


def _summary(
    cfg: PretrainConfig,
    state: Any,
    model: Any,
    data: dict[str, Any],
    tokenizer_report: dict[str, Any],
    train_seconds: float,
    started: float,
) -> dict[str, Any]:
    return {
        "task": cfg.objective,
        "validation": dict(state.eval_metrics),
        "steps": state.step,
        "data": data,
        "tokenizer": tokenizer_report,
        "parameters": sum(p.numel() for p in model.parameters()),
        "timing": {
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
            "real_tokens_per_s": round(state.tokens_seen / max(train_seconds, 1e-9), 1),
        },
        "environment": environment(),
    }
