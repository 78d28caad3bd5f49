"""How long `pretune` commands take to start: help, config listing and config errors (configs
naming techniques included).

Each command runs `--repeats` times in a fresh `python -m pretune` process; the script prints
one JSON object with the median wall time and the median CPU time (user + system, of the child
process) per command. CPU time is the number to compare on a shared machine: other jobs stretch
the wall clock but not the CPU a process uses.

    python benchmarks/startup_time.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "--help": ["--help"],
    "finetune --help": ["finetune", "--help"],
    "config show finetune": ["config", "show", "finetune"],
    "config list": ["config", "list"],
    "finetune nosuch.csv (bad argument)": ["finetune", "nosuch.csv"],
    "finetune missing.yaml (missing file)": ["finetune", "missing.yaml"],
    "finetune train.nosuch=1 (unknown key)": ["finetune", "train.nosuch=1"],
    "finetune train.lr=abc (bad value)": ["finetune", "train.lr=abc"],
    "config show finetune techniques.ema=true techniques.lora.r=4 (valid)": [
        "config",
        "show",
        "finetune",
        "techniques.ema=true",
        "techniques.lora.r=4",
    ],
    "finetune techniques.emma=true (unknown technique)": ["finetune", "techniques.emma=true"],
    "finetune techniques.layerwise_lr.decay=abc (bad technique value)": [
        "finetune",
        "techniques.layerwise_lr.decay=abc",
    ],
    "finetune techniques.ema=true techniques.swa=true (bad combination)": [
        "finetune",
        "techniques.ema=true",
        "techniques.swa=true",
    ],
}


def time_command(args: list[str], cwd: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `python -m pretune ARGS` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pretune", *args], cwd=cwd, capture_output=True, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as cwd:  # no missing.yaml or run folders around
        os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1] / "src"))
        for name, command in COMMANDS.items():
            times = [time_command(command, cwd) for _ in range(args.repeats)]
            results[name] = {
                "wall_s": round(statistics.median(t[0] for t in times), 2),
                "cpu_s": round(statistics.median(t[1] for t in times), 2),
            }
    print(json.dumps({"repeats": args.repeats, "commands": results}, indent=2))


if __name__ == "__main__":
    main()
