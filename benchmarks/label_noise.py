"""Noisy labels: plain cross-entropy vs noise-robust losses on BBC News with flipped labels.

A share of the training labels is flipped at random (symmetric noise); the test split stays
clean. Each loss trains the same model on the same noisy rows; the clean test accuracy says
which loss learned the true classes despite the noise. Prints one JSON object.

    nice -n 10 .venv/bin/python benchmarks/label_noise.py --noise 0.4 --examples 400
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pretune.config import DataConfig, load_config
from pretune.data.noise import flip_labels
from pretune.data.text_classification import prepare_data
from pretune.recipes.finetune import run_finetune

# A linear probe of MiniLM: the body is frozen, only the pooler and the head train.
PROBE = ("techniques.freeze.train=[classifier.*,bert.pooler.*]",)


def _write(path: Path, texts: list[str], labels: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))
    return path


def noisy_bbc_files(
    folder: Path, examples: int, noise: float, seed: int = 0, test_examples: int | None = None
) -> dict[str, Any]:
    """Write train.csv (noisy labels) and test.csv (clean) from BBC's stratified splits."""
    data = prepare_data(
        DataConfig(source="bbc", val_fraction=0.1, test_fraction=0.1, max_train_examples=examples),
        seed,
    )
    train, test = data.splits["train"], data.splits["test"]
    noisy, flipped = flip_labels(list(train["label"][:]), noise, data.label_names, seed)
    test_texts, test_labels = list(test["text"][:]), list(test["label"][:])
    if test_examples:
        test_texts, test_labels = test_texts[:test_examples], test_labels[:test_examples]
    return {
        "train": _write(folder / "train.csv", list(train["text"][:]), noisy),
        "test": _write(folder / "test.csv", test_texts, test_labels),
        "flipped": len(flipped),
    }


def run_losses(
    files: dict[str, Any], losses: list[str], out: Path, extra: tuple[str, ...] = ()
) -> dict[str, float]:
    """Clean test accuracy per loss spec ("name" or "name:key=value,key=value")."""
    results = {}
    for spec in losses:
        name, _, params = spec.partition(":")
        overrides = [
            f"data.source={files['train']}", f"data.test_file={files['test']}",
            "data.val_fraction=0", "data.test_fraction=0", f"output_dir={out}",
            f"name={spec.replace(':', '_').replace('=', '').replace(',', '_')}",
            f"train.loss={name}", "train.warmup_ratio=0", "train.log_every=1000", *PROBE, *extra,
        ]  # fmt: skip
        overrides += [f"train.loss_params.{kv}" for kv in params.split(",") if kv]
        summary = run_finetune(load_config(None, overrides), log=lambda _: None)
        results[spec] = summary["test"]["accuracy"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--noise", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-examples", type=int, default=None)
    parser.add_argument(
        "--losses", nargs="+", default=["cross_entropy", "generalized_ce", "symmetric_ce"]
    )
    parser.add_argument("overrides", nargs="*", help="extra key=value config overrides")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = noisy_bbc_files(Path(tmp), args.examples, args.noise, args.seed, args.test_examples)
        accuracy = run_losses(files, args.losses, Path(tmp) / "runs", tuple(args.overrides))
    print(json.dumps({
        "examples": args.examples, "noise": args.noise, "flipped": files["flipped"],
        "overrides": args.overrides, "clean_test_accuracy": accuracy,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
