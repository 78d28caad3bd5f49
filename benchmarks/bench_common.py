"""Pieces every benchmark shares: the machine's matmul peak, FLOP estimates, peak memory,
BBC splits, and the two fine-tuning arms (plain Hugging Face `Trainer` and pretune).

Both arms train the same model on the same rows and are timed the same way: from the end of
the first optimizer step (warm-up excluded) to the end of training, evaluation excluded. A
time-to-accuracy run (`target=`) evaluates the test rows every `eval_every` steps, outside the
clock, and stops at the first evaluation that reaches the target.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of a (size x size) @ (size x size) matmul on this machine.

    Measure it at the start and at the end of a run and keep the best: on a shared CPU one
    measurement may land in a busy moment and understate the peak.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def add_peak_fraction(side: dict[str, Any], model: torch.nn.Module, peak: float) -> None:
    """Add a training arm's achieved GFLOP/s and its fraction of the matmul `peak`; attention
    cost per token grows with the sequence, so the arm's mean real length is used."""
    mean_tokens = side["real_tokens"] / max(side["examples_per_s"] * side["timed_seconds"], 1)
    side["gflops"] = round(side["real_tokens_per_s"] * flops_per_token(model, mean_tokens) / 1e9, 2)
    side["fraction_of_peak"] = round(side["gflops"] / peak, 4)


def body_parameters(model: torch.nn.Module) -> int:
    """Parameters outside embedding tables (the ones every token multiplies through)."""
    embeddings = {
        id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    }
    return sum(p.numel() for p in model.parameters() if id(p) not in embeddings)


def flops_per_token(
    model: torch.nn.Module, context: float, predicted_share: float = 0.0, passes: int = 3
) -> float:
    """Useful FLOPs per real token (Kaplan et al. 2020): 2 x body parameters + attention
    (2 x layers x context x hidden) + the LM head on the predicted share of tokens, per pass;
    `passes` is 3 for a training step (forward + backward), 1 for inference."""
    config = model.config
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    vocab_head = hidden * config.vocab_size * predicted_share
    return passes * (2 * body_parameters(model) + 2 * layers * context * hidden + 2 * vocab_head)


@contextlib.contextmanager
def peak_rss_mb(interval: float = 0.02) -> Iterator[dict[str, float]]:
    """Peak resident memory (MB) of this process while the block runs, above its start.

    Sampled from /proc every `interval` s by a thread (torch's CPU allocator has no peak
    counter); `result["peak_mb"]` is set when the block ends.
    """
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * page

    start, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            done.wait(interval)

    result: dict[str, float] = {}
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["peak_mb"] = round((max(peak[0], rss()) - start) / 2**20, 1)


def in_fresh_process(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a new Python process (spawned, not forked), its result returned.

    Each training arm runs alone in its own process so that its peak memory is its own: in one
    process the second arm would reuse the memory the first left to the allocator, and read as
    nearly free.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args, kwargs)


def process_peak_mb() -> float:
    """This process's peak resident memory so far, in MB (run an arm in `in_fresh_process`
    and this is the arm's own peak: imports, model, data, training and testing)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def inference_parser(description: str) -> argparse.ArgumentParser:
    """The arguments the inference benchmarks share: a run, the texts, batch, passes, threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run", type=Path, help="a finished text-classification run folder")
    parser.add_argument("--dataset", choices=["articles", "mixed"], default="articles")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    return parser


def bbc_rows(variant: str = "articles") -> tuple[list[str], list[str]]:
    """BBC News texts and topics, exact duplicates dropped (both arms must see the same rows).

    variant "articles": whole articles (most are longer than 256 tokens, so little padding);
    "leads": each article's title and first paragraph, 10-90 tokens: a set of short texts;
    "mixed": each article cut after a random number of paragraphs (at least the title and
    one paragraph; seeded), 12-256 tokens, median about 140: lengths spread over the whole
    range, where padding to the longest in a batch wastes the most.
    """
    from pretune.data.sources import load_source

    data = load_source("bbc")
    texts, labels = list(data["text"][:]), [str(x) for x in data["label"][:]]
    paragraphs = [[p.strip() for p in t.split("\n") if p.strip()] for t in texts]
    if variant == "leads":
        texts = [" ".join(ps[:2]) for ps in paragraphs]
    elif variant == "mixed":
        rng = random.Random(0)
        texts = [" ".join(ps[: rng.randint(min(2, len(ps)), len(ps))]) for ps in paragraphs]
    elif variant != "articles":
        raise SystemExit(f"unknown dataset variant {variant!r}: articles, leads or mixed")
    seen: set[str] = set()
    rows = [(t, y) for t, y in zip(texts, labels, strict=True) if not (t in seen or seen.add(t))]
    return [t for t, _ in rows], [y for _, y in rows]


def split_rows(
    texts: list[str], labels: list[str], test_fraction: float, seed: int = 0
) -> dict[str, tuple[list[str], list[str]]]:
    """A stratified train/test split with scikit-learn (the same for both arms)."""
    from sklearn.model_selection import train_test_split

    tr_x, te_x, tr_y, te_y = train_test_split(
        texts, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return {"train": (tr_x, tr_y), "test": (te_x, te_y)}


def write_csv(path: Path, texts: list[str], labels: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))
    return path


def test_accuracy(
    model: Any, tokenizer: Any, texts: list[str], labels: list[str], max_length: int
) -> float:
    """Accuracy of a sequence classifier on (texts, labels): one function for both arms."""
    label2id = {str(k): v for k, v in model.config.label2id.items()}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    correct = 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt")  # fmt: skip
            predicted = model(**batch).logits.argmax(-1).tolist()
            correct += sum(p == label2id[labels[i]] for p, i in zip(predicted, idx, strict=True))
    return correct / len(texts)


class _Rows:
    """Counts the rows and real tokens of training forwards (a forward pre-hook)."""

    def __init__(self) -> None:
        self.rows = self.tokens = 0

    def __call__(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        mask = kwargs.get("attention_mask")
        if module.training and mask is not None:
            self.rows += int(mask.shape[0])
            self.tokens += int(mask.sum())


def hf_finetune(
    model_path: Path,
    train: tuple[list[str], list[str]],
    test: tuple[list[str], list[str]],
    *,
    max_length: int,
    batch_size: int,
    epochs: float,
    lr: float = 5e-5,
    workdir: Path,
    target: float | None = None,
    eval_every: int = 0,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """`Trainer` + `DataCollatorWithPadding` with Hugging Face's defaults (the recipe of the
    text-classification examples); training examples/s after the first step."""
    if threads:
        torch.set_num_threads(threads)
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    names = sorted(set(train[1]))
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_path), num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )  # fmt: skip
    counter = _Rows()
    model.register_forward_pre_hook(counter, with_kwargs=True)
    data = Dataset.from_dict({"text": train[0], "label": [names.index(y) for y in train[1]]})
    data = data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length),
                    batched=True, remove_columns=["text"])  # fmt: skip
    clock = _Clock()

    class Timer(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock.step_end(state.global_step, counter)
            if target is not None and eval_every and state.global_step % eval_every == 0:
                with clock.paused():
                    accuracy = test_accuracy(model, tokenizer, *test, max_length)
                    model.train()
                clock.record(state.global_step, accuracy)
                control.should_training_stop = accuracy >= target

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock.end(counter)

    targs = TrainingArguments(
        output_dir=str(workdir / "hf"), per_device_train_batch_size=batch_size,
        num_train_epochs=epochs, learning_rate=lr, logging_steps=10_000, save_strategy="no",
        report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, seed=seed,
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=targs, train_dataset=data, callbacks=[Timer()],
        data_collator=DataCollatorWithPadding(tokenizer),
    )  # fmt: skip
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()  # Trainer prints its metrics dict: keep stdout for the JSON
    result = clock.summary(test_accuracy(model, tokenizer, *test, max_length))
    result["process_peak_memory_mb"] = process_peak_mb()
    return result


def equal_work_overrides(
    max_length: int, batch_size: int, epochs: float, threads: int
) -> list[str]:
    """pretune overrides for an equal-work comparison with `hf_finetune`: the same length, batch
    and epochs, and HF's optimisation settings too (lr 5e-5, linear decay, no warm-up, no weight
    decay, clipping at 1), so the arms differ only in how the work is done."""
    return [f"model.max_length={max_length}", f"train.batch_size={batch_size}",
            f"train.epochs={epochs}", f"train.num_threads={threads}", "train.lr=5e-5",
            "train.schedule=linear", "train.warmup_ratio=0", "train.weight_decay=0",
            "train.max_grad_norm=1.0"]  # fmt: skip


def pretune_finetune(
    train: tuple[list[str], list[str]],
    test: tuple[list[str], list[str]],
    overrides: list[str],
    *,
    workdir: Path,
    target: float | None = None,
    eval_every: int = 0,
) -> dict[str, Any]:
    """`run_finetune` (the quickstart's defaults plus `overrides`) on the same rows."""
    from pretune.catalog import recipe as catalog_recipe
    from pretune.config import load_config
    from pretune.models.load import load_tokenizer
    from pretune.recipes.finetune import run_finetune

    train_csv = write_csv(workdir / "train.csv", *train)
    test_csv = write_csv(workdir / "test.csv", *test)
    clock = _Clock()
    holder: dict[str, Any] = {}

    class Timer:
        def after_step(self, state: Any) -> None:
            clock.step_end(state.step, state)
            if target is not None and eval_every and state.step % eval_every == 0:
                with clock.paused():
                    model = getattr(state.model, "module", state.model)
                    accuracy = test_accuracy(model, holder["tokenizer"], *test, max_length)
                    model.train()
                clock.record(state.step, accuracy)
                state.should_stop = accuracy >= target

        def fit_end(self, state: Any) -> None:
            clock.end(state)

    cfg = load_config(
        None,
        [f"data.source={train_csv}", f"data.test_file={test_csv}", "data.val_fraction=0",
         "data.test_fraction=0", "data.clean.dedupe=none", f"output_dir={workdir}",
         "name=pretune", "train.log_every=10000", *overrides],
        defaults=catalog_recipe("quickstart").defaults(),
    )  # fmt: skip
    max_length = cfg.model.max_length
    holder["tokenizer"] = load_tokenizer(Path(_model_path(cfg.model.init_from)))
    with contextlib.redirect_stdout(sys.stderr):
        summary = run_finetune(cfg, log=lambda *_: None, live_progress=False,
                               extra_handlers=[Timer()])  # fmt: skip
    torch.use_deterministic_algorithms(False)  # pretune's default deterministic mode: undo it
    result = clock.summary(summary["test"]["accuracy"])
    result["process_peak_memory_mb"] = process_peak_mb()
    result["run_dir"] = summary["run_dir"]
    return result


def _model_path(init_from: str) -> Path:
    from pretune.models.load import resolve_model_path

    return resolve_model_path(init_from)


class _Clock:
    """Training time and examples from the end of step 1, with evaluation paused out."""

    def __init__(self) -> None:
        self.t0 = self.t1 = 0.0
        self.rows0 = self.rows1 = self.tokens0 = self.tokens1 = 0
        self.steps = 0
        self.excluded = 0.0
        self.curve: list[dict[str, float]] = []

    @staticmethod
    def _counts(source: Any) -> tuple[int, int]:
        if isinstance(source, _Rows):
            return source.rows, source.tokens
        return source.examples_seen, source.tokens_seen  # pretune's State

    def step_end(self, step: int, source: Any) -> None:
        self.steps = step
        if step == 1:
            self.t0 = time.perf_counter()
            self.rows0, self.tokens0 = self._counts(source)
            self.excluded = 0.0

    def end(self, source: Any) -> None:
        self.t1 = time.perf_counter()
        self.rows1, self.tokens1 = self._counts(source)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - start

    def record(self, step: int, accuracy: float) -> None:
        seconds = time.perf_counter() - self.t0 - self.excluded
        self.curve.append({"step": step, "train_seconds": round(seconds, 2),
                           "accuracy": round(accuracy, 4)})  # fmt: skip

    def summary(self, final_accuracy: float) -> dict[str, Any]:
        """Throughput and the final test accuracy; an accuracy curve ends with that final
        point when training stopped between two evaluations."""
        seconds = self.t1 - self.t0 - self.excluded
        if self.curve and self.curve[-1]["step"] != self.steps:
            self.curve.append({"step": self.steps, "train_seconds": round(seconds, 2),
                               "accuracy": round(final_accuracy, 4)})  # fmt: skip
        rows, tokens = self.rows1 - self.rows0, self.tokens1 - self.tokens0
        out: dict[str, Any] = {
            "steps": self.steps,
            "timed_seconds": round(seconds, 2),
            "examples_per_s": round(rows / seconds, 3) if seconds > 0 else None,
            "real_tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None,
            "real_tokens": tokens,
            "accuracy": final_accuracy,
        }
        if self.curve:
            out["curve"] = self.curve
        return out
