"""Inference: `pretune predict` (fp32 and dynamic int8) vs `transformers.pipeline`, one run.

    python benchmarks/inference_speed.py RUN [--dataset articles|mixed] [--texts 512]
        [--batch-size 32] [--passes 2] [--threads 2]

RUN is a finished text-classification run (e.g. the one `make quickstart` writes). The same
BBC articles (the first `--texts` of the corpus in a seeded shuffle; with `--dataset mixed`,
articles cut after a random number of paragraphs, 12-256 tokens) go through:
  - pipeline: `transformers.pipeline("text-classification", model=RUN/model)`, called on
    the list of texts with the same batch size and `truncation=True, max_length=` the run's;
  - pretune:  `Predictor.probabilities(texts)`, what `pretune predict` runs once the model
    is loaded (texts tokenised once, sorted by length so batches hold little padding, an
    all-ones attention mask dropped, inference mode, the last layer computed only at the
    first token, which is all the classifier head reads);
  - pretune all positions: the same with the last layer at every position (the technique
    above measured alone);
  - pretune int8: the same on the run quantised by `pretune quantize` (dynamic int8 Linear);
  - pretune onnx: the same on the run exported by `pretune export` (fp32 ONNX), which
    `pretune predict` runs with onnxruntime.
Each pass runs every arm once, the order rotating from pass to pass so that all see the same
machine load; model loading is outside the clock for every arm. The report holds each arm's
best pass (examples per wall second and per CPU second of this process), the ratios against
the pipeline, whether fp32 predictions are identical to the pipeline's, and peak resident
memory. The int8 accuracy change is measured
on the run's own test split. Achieved GFLOP/s (2 x body parameters + attention, per real
token) is reported as a fraction of the fp32 matmul peak, measured in the same run; every arm
is credited with the full forward's work, so arms that skip work (first token only, int8)
read as fp32-equivalent GFLOP/s.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_common import (
    bbc_rows,
    flops_per_token,
    inference_parser,
    matmul_peak_gflops,
    peak_rss_mb,
)


def _timed(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = inference_parser(__doc__.split("\n")[0])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForSequenceClassification, pipeline
    from transformers.utils import logging

    from pretune.data.sources import load_source
    from pretune.deploy.export_onnx import export_run
    from pretune.deploy.quantize import quantize_run
    from pretune.runs import Predictor, find_model_dir, run_max_length

    logging.set_verbosity_error()
    if args.dataset == "mixed":
        texts = bbc_rows("mixed")[0]
    else:
        texts = [str(t) for t in load_source("bbc", label_column=None)["text"][:]]
    random.Random(0).shuffle(texts)
    texts = texts[: args.texts]
    model_dir = find_model_dir(args.run)
    peak = matmul_peak_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        int8_run = Path(tmp) / "int8"
        with contextlib.redirect_stdout(sys.stderr):
            comparison = quantize_run(args.run, int8_run, batch_size=args.batch_size, repeats=1)
            export_run(args.run, Path(tmp) / "onnx")
        pipe = pipeline("text-classification", model=str(model_dir), device=-1)
        max_length = run_max_length(args.run, model_dir, pipe.tokenizer)

        def run_pipeline() -> list[str]:
            outputs = pipe(texts, batch_size=args.batch_size, truncation=True,
                           max_length=max_length)  # fmt: skip
            return [o["label"] for o in outputs]

        def run_pretune(predictor: Predictor) -> list[str]:
            probs = predictor.probabilities(texts, batch_size=args.batch_size)
            return [predictor.label_names[i] for i in probs.argmax(1)]

        fp32, int8 = Predictor.load(args.run), Predictor.load(int8_run)
        all_positions = Predictor.load(args.run, first_token_only=False)
        onnx = Predictor.load(Path(tmp) / "onnx")
        arms = {"pipeline": run_pipeline, "pretune": lambda: run_pretune(fp32),
                "pretune_all_positions": lambda: run_pretune(all_positions),
                "pretune_int8": lambda: run_pretune(int8),
                "pretune_onnx": lambda: run_pretune(onnx)}  # fmt: skip
        best: dict[str, dict[str, float]] = {name: {} for name in arms}
        labels: dict[str, list[str]] = {}
        memory: dict[str, float] = {}
        names = list(arms)
        for p in range(args.passes):
            for name in names[p % len(names) :] + names[: p % len(names)]:
                with peak_rss_mb() as mem:
                    labels[name], wall, cpu = _timed(arms[name])
                memory[name] = max(memory.get(name, 0.0), mem["peak_mb"])
                b = best[name]
                b["examples_per_s"] = max(b.get("examples_per_s", 0.0), len(texts) / wall)
                b["examples_per_cpu_s"] = max(b.get("examples_per_cpu_s", 0.0), len(texts) / cpu)
    peak = max(peak, matmul_peak_gflops())
    tokenizer = pipe.tokenizer
    real_tokens = sum(
        len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    )
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    mean_tokens = real_tokens / len(texts)
    per_token = flops_per_token(model, context=mean_tokens, passes=1)
    out: dict[str, Any] = {"settings": vars(args) | {"run": str(args.run)},
                           "max_length": max_length, "mean_real_tokens": mean_tokens}  # fmt: skip
    for name, b in best.items():
        gflops = b["examples_per_s"] * mean_tokens * per_token / 1e9
        out[name] = {k: round(v, 3) for k, v in b.items()} | {
            "gflops": round(gflops, 2), "fraction_of_peak": round(gflops / peak, 4),
            "peak_memory_mb": memory[name],
        }  # fmt: skip
    pipe_speed = best["pipeline"]
    for name in ("pretune", "pretune_all_positions", "pretune_int8", "pretune_onnx"):
        out[f"ratio_{name}_vs_pipeline"] = round(
            best[name]["examples_per_s"] / pipe_speed["examples_per_s"], 3
        )
        out[f"ratio_{name}_vs_pipeline_cpu_time"] = round(
            best[name]["examples_per_cpu_s"] / pipe_speed["examples_per_cpu_s"], 3
        )
    out["fp32_identical_predictions"] = labels["pretune"] == labels["pipeline"]
    out["all_positions_identical_predictions"] = (
        labels["pretune_all_positions"] == labels["pipeline"]
    )
    out["onnx_identical_predictions"] = labels["pretune_onnx"] == labels["pipeline"]
    out["int8_agreement_with_fp32"] = round(
        sum(a == b for a, b in zip(labels["pretune"], labels["pretune_int8"], strict=True))
        / len(texts), 4
    )  # fmt: skip
    out["int8_test_accuracy"] = {
        "test_examples": comparison["test_examples"],
        "float32": comparison["float32"]["accuracy"],
        "int8": comparison["int8"]["accuracy"],
        "change_points": round(100 * comparison["accuracy_change"], 2),
    }
    out["fp32_matmul_peak_gflops"] = round(peak, 2)
    out["torch"], out["threads"] = torch.__version__, torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
