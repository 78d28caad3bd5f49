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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.data.clean import clean_dataset
from pretune.data.masking import CausalLabels, MLMMasking
from pretune.data.packing import (
    LMSplit,
    LMTrainBatches,
    Prepare,
    encode_documents,
    pack_documents,
    padding_fraction,
)
from pretune.data.sources import load_source
from pretune.data.split import split_dataset
from pretune.errors import ConfigError, DataError
from pretune.evaluate.lm import evaluate_lm
from pretune.files import write_json_atomic
from pretune.models.load import load_tokenizer, resolve_model_path
from pretune.models.presets import build_lm, load_lm
from pretune.models.settings import apply_model_settings
from pretune.recipes._runner import recipe
from pretune.tasks.clm import CLMTask
from pretune.tasks.mlm import MLMTask
from pretune.tokenization.train import measure_tokenizer, train_tokenizer
from pretune.train.session import Session

__all__ = ["build_lm_split", "load_texts", "run_pretrain"]


# ---------------------------------------------------------------------------------------------
# Data


def _texts(cfg: Any, source: str, labels: bool = False) -> Any:
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


def load_texts(cfg: Any) -> dict[str, list[str]]:
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


def _prepare_batches(cfg: Any, tokenizer: Any) -> Prepare:
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


def _tokenizer(cfg: Any, run_dir: Path, texts: list[str], log: Any) -> tuple[Any, dict]:
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


def _model(cfg: Any, tokenizer: Any, log: Any) -> Any:
    if cfg.model.init_from:
        path = resolve_model_path(cfg.model.init_from)
        return load_lm(path, cfg.objective, tokenizer, cfg.model.max_length, log)
    return build_lm(cfg.pretrain.preset or "tiny", cfg.objective, tokenizer, cfg.model.max_length)


# ---------------------------------------------------------------------------------------------
# The run


def _report_split(
    cfg: Any, texts: dict[str, list[str]], splits: dict[str, LMSplit], padding: float, log: Any
) -> None:
    log(
        f"{cfg.objective}: {len(texts['train'])} documents -> {len(splits['train'])} rows of "
        f"<= {cfg.model.max_length} tokens "
        f"({'packed' if cfg.pretrain.packing else 'unpacked'}), padding {padding:.1%}"
    )  # fmt: skip


@recipe("pretrain")
def run_pretrain(cfg: Any, session: Session) -> dict[str, Any]:
    """Pre-train, save `model/` (+ tokenizer); returns the summary."""
    if cfg.model.init_from:
        resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    texts = load_texts(cfg)
    tokenizer, tokenizer_report = _tokenizer(cfg, session.run_dir, texts["train"], session.log)
    m = cfg.model
    splits = {
        key: build_lm_split(tokenizer, t, cfg.objective, m.max_length, cfg.pretrain.packing)
        for key, t in texts.items()
        if t
    }
    model = apply_model_settings(_model(cfg, tokenizer, session.log), m)
    prepare = _prepare_batches(cfg, tokenizer)
    train_data = LMTrainBatches(
        splits["train"], cfg.train.batch_size, cfg.seed, prepare, cfg.train.group_by_length
    )
    padding = padding_fraction(splits["train"], train_data.epoch_batches(0))
    _report_split(cfg, texts, splits, padding, session.log)
    evaluate = None
    if "validation" in splits:

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            return evaluate_lm(
                task, splits["validation"], cfg.eval.batch_size, device, prepare, cfg.seed
            )

    task_class = MLMTask if cfg.objective == "mlm" else CLMTask
    trained = session.train(model, task_class, train_data, evaluate=evaluate)
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    return {
        "task": cfg.objective,
        "data": {
            "documents": {key: len(t) for key, t in texts.items()},
            "rows": {key: len(split) for key, split in splits.items()},
            "packing": cfg.pretrain.packing,
            "padding_fraction": round(padding, 4),
            "dropped_tail_tokens": splits["train"].dropped_tokens,
        },
        "tokenizer": tokenizer_report or {"vocab_size": len(tokenizer)},
        "parameters": sum(p.numel() for p in trained.model.parameters()),
    }
