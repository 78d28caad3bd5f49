"""Pre-training throughput: pretune vs the plain Hugging Face baseline, in one process.

Same tiny BERT (or GPT-2) config, same BBC News paragraphs, same sequence length, same real
tokens per optimizer step. The baseline is `Trainer` + `DataCollatorForLanguageModeling`
(mlm=True for MLM, mlm=False for CLM) on paragraphs truncated to `--max-length` and padded per
batch, which is what the Hugging Face examples do; pretune is `run_pretrain` (packed windows,
LM head only at predicted positions). The first optimizer step of each side is a warm-up and is
not timed. Prints ONE JSON object.

    nice -n 10 .venv/bin/python benchmarks/pretrain_throughput.py [--steps 30] [--threads 1]

Achieved GFLOP/s counts the useful model FLOPs per real token, the same formula for both sides:
6 * non-embedding parameters + 6 * layers * max_length * hidden (attention) + 6 * hidden *
vocab * (share of tokens that are predicted: 0.15 for MLM, 1 for CLM). The peak is a big fp32
`torch.matmul` timed in the same run with the same thread count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_common import flops_per_token, matmul_peak_gflops

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bbc_paragraphs(limit: int, seed: int = 0) -> list[str]:
    """BBC News articles split into paragraphs (non-empty lines), shuffled."""
    from pretune.data.sources import load_source

    articles = load_source("bbc", label_column=None)["text"][:]
    paragraphs = [p.strip() for a in articles for p in a.split("\n") if len(p.strip()) > 20]
    random.Random(seed).shuffle(paragraphs)
    return paragraphs[:limit]


class _TokenCounter:
    """Counts real (attention-mask) tokens of training forwards; forward pre-hook."""

    def __init__(self) -> None:
        self.tokens = 0

    def __call__(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        if module.training and kwargs.get("attention_mask") is not None:
            self.tokens += int(kwargs["attention_mask"].sum())


def run_hf(objective: str, tokenizer: Any, texts: list[str], args: Any, workdir: Path) -> dict:
    """Trainer + DataCollatorForLanguageModeling; real tokens/s after the first step."""
    from datasets import Dataset
    from transformers import (
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from pretune.models.presets import build_lm

    torch.manual_seed(0)
    model = build_lm("tiny", objective, tokenizer, args.max_length)
    counter = _TokenCounter()
    model.register_forward_pre_hook(counter, with_kwargs=True)
    data = Dataset.from_dict({"text": texts}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
        batched=True,
        remove_columns=["text"],
    )
    marks: dict[str, float] = {}

    class Timer(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            if state.global_step == 1:
                marks["t0"], marks["n0"] = time.perf_counter(), counter.tokens

        def on_train_end(self, targs, state, control, **kw):
            marks["t1"], marks["n1"] = time.perf_counter(), counter.tokens

    targs = TrainingArguments(
        output_dir=str(workdir / f"hf-{objective}"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps + 1,
        learning_rate=5e-4,
        warmup_steps=0,
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm=objective == "mlm", mlm_probability=0.15
    )
    trainer = Trainer(
        model=model, args=targs, train_dataset=data, data_collator=collator, callbacks=[Timer()]
    )
    with contextlib.redirect_stdout(
        sys.stderr
    ):  # Trainer prints its metrics dict: keep stdout JSON
        trainer.train()
    seconds = marks["t1"] - marks["t0"]
    tokens = marks["n1"] - marks["n0"]
    return {
        "real_tokens_per_s": tokens / seconds,
        "real_tokens_per_step": tokens / args.steps,
        "seconds": seconds,
        "model": model,
    }


def run_pretune(
    objective: str, tok_dir: Path, data_file: Path, windows: int, args: Any, workdir: Path
) -> dict:
    """`run_pretrain` on the same paragraphs; real tokens/s after the first step."""
    from pretune.catalog import load_recipe_config
    from pretune.recipes.pretrain import run_pretrain

    marks: dict[str, float] = {}

    class Timer:
        def after_step(self, state):
            if state.step == 1:
                marks["t0"], marks["n0"] = time.perf_counter(), state.tokens_seen

        def fit_end(self, state):
            marks["t1"], marks["n1"] = time.perf_counter(), state.tokens_seen

    cfg = load_recipe_config(
        "pretrain",
        None,
        [
            f"objective={objective}",
            f"data.source={data_file}",
            "data.val_fraction=0",
            "data.clean.dedupe=none",
            f"output_dir={workdir}",
            f"name=pretune-{objective}",
            f"pretrain.tokenizer={tok_dir}",
            "pretrain.preset=tiny",
            f"model.max_length={args.max_length}",
            f"train.batch_size={windows}",
            "train.lr=5e-4",
            "train.warmup_steps=0",
            f"train.max_steps={args.steps + 1}",
            "train.log_every=10000",
            f"train.num_threads={args.threads}",
        ],
    )
    with contextlib.redirect_stdout(sys.stderr):  # progress lines: keep stdout for the JSON
        summary = run_pretrain(
            cfg, log=lambda *_: None, live_progress=False, extra_handlers=[Timer()]
        )
    seconds = marks["t1"] - marks["t0"]
    tokens = marks["n1"] - marks["n0"]
    return {
        "real_tokens_per_s": tokens / seconds,
        "real_tokens_per_step": tokens / args.steps,
        "seconds": seconds,
        "padding_fraction": summary["data"]["padding_fraction"],
    }


def compare(objective: str, texts: list[str], args: Any, workdir: Path) -> dict:
    from pretune.tokenization import train_tokenizer

    kind = "wordpiece" if objective == "mlm" else "bpe"
    tokenizer = train_tokenizer(texts, kind, vocab_size=args.vocab_size, max_length=args.max_length)
    tok_dir = workdir / f"tok-{objective}"
    tokenizer.save_pretrained(str(tok_dir))
    if objective == "clm" and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data_file = workdir / "paragraphs.jsonl"
    data_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), "utf-8")
    lengths = [
        len(ids)
        for ids in tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    ]
    mean_len = sum(lengths) / len(lengths)
    # Same real tokens per step: the baseline's batch of paragraphs holds batch_size * mean_len.
    windows = max(1, round(args.batch_size * mean_len / args.max_length))
    torch.use_deterministic_algorithms(False)
    hf = run_hf(objective, tokenizer, texts, args, workdir)
    model = hf.pop("model")
    ours = run_pretune(objective, tok_dir, data_file, windows, args, workdir)
    torch.use_deterministic_algorithms(False)  # pretune's default deterministic mode: undo it
    per_token = flops_per_token(model, args.max_length, 0.15 if objective == "mlm" else 1.0)
    result = {
        "hf": hf,
        "pretune": ours,
        "ratio": ours["real_tokens_per_s"] / hf["real_tokens_per_s"],
        "mean_paragraph_tokens": round(mean_len, 1),
        "pretune_windows_per_step": windows,
        "gflop_per_token": per_token / 1e9,
    }
    for side in (hf, ours):
        side["gflops"] = side["real_tokens_per_s"] * per_token / 1e9
        for key, value in list(side.items()):
            side[key] = round(value, 4) if isinstance(value, float) else value
    result["ratio"] = round(result["ratio"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps per side")
    parser.add_argument("--batch-size", type=int, default=32, help="baseline paragraphs per step")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--paragraphs", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--objectives", nargs="+", default=["mlm", "clm"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging

    logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bar()
    texts = bbc_paragraphs(args.paragraphs)
    peak = matmul_peak_gflops()
    out: dict[str, Any] = {
        "settings": vars(args),
        "paragraphs": len(texts),
        "fp32_matmul_peak_gflops": round(peak, 2),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for objective in args.objectives:
            results[objective] = compare(objective, texts, args, Path(tmp))
    peak = max(peak, matmul_peak_gflops())
    out["fp32_matmul_peak_gflops"] = round(peak, 2)
    for objective, result in results.items():
        for side in (result["hf"], result["pretune"]):
            side["fraction_of_peak"] = round(side["gflops"] / peak, 4)
        out[objective] = result
    out["torch"], out["threads"] = torch.__version__, torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
