"""Dynamic int8 vs float32 CPU inference speed, measured fairly on a shared machine.

Timing each model in its own block of passes (what `pretune quantize` did before) lets a
change in the machine's load between the blocks read as a speed-up or a slow-down. Here (and
now in `pretune quantize`, through `pretune.deploy.measure.compare_speed`) the two models are
interleaved batch by batch: every test batch runs through float32 and int8 back to back, the
order alternating from batch to batch (A B, B A, ...) and from pass to pass, so both see the
same load to within a second. (Interleaving whole passes, about a minute each here, was not
enough: the load average went from 4 to 20 during one run and per-pair ratios spread from 0.4x
to 1.9x.) Each pass gives examples/s per model; the report holds the median over passes of
each, the ratio of the medians, the per-pass ratios, and the same ratio in CPU time
(time.process_time, which counts only this process's cycles and so is the least disturbed by
other jobs). Accuracy is counted on the same timed passes.

Prints ONE JSON object.

    nice -n 10 .venv/bin/python benchmarks/quantize_speed.py RUN [--passes 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished fine-tuning run folder")
    parser.add_argument("--passes", type=int, default=3, help="interleaved passes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=None, help="default: whole split")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pretune.deploy.measure import compare_speed, model_bytes
    from pretune.runs import load_run_model, load_test_split, quantize_model

    rm = load_run_model(args.run)
    split = load_test_split(rm, args.max_examples)
    models = {"float32": rm.model, "int8": quantize_model(rm.model)}
    started = time.perf_counter()
    speed = compare_speed(models, split, args.batch_size, args.passes)
    report: dict[str, Any] = {
        "run": str(args.run),
        "test_examples": len(split),
        "passes": args.passes,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    for name, model in models.items():
        report[name] = {**speed[name], "bytes": model_bytes(model)}
    f32, i8 = report["float32"], report["int8"]
    report["accuracy_change"] = i8["accuracy"] - f32["accuracy"]
    report["speedup"] = i8["examples_per_s"] / f32["examples_per_s"]
    report["speedup_per_pass"] = [
        round(b / a, 3)
        for a, b in zip(f32["examples_per_s_passes"], i8["examples_per_s_passes"], strict=True)
    ]
    report["speedup_cpu_time"] = i8["examples_per_cpu_s"] / f32["examples_per_cpu_s"]
    report["size_ratio"] = i8["bytes"] / f32["bytes"]
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_average_start_end"] = [round(_START_LOAD, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(report, indent=2))


_START_LOAD = os.getloadavg()[0]

if __name__ == "__main__":
    main()
