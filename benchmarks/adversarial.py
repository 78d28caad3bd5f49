"""Adversarial robustness: a plainly fine-tuned model vs FGM/PGD adversarial training.

Each training variant fine-tunes the same model on the same data; then every model is
attacked with PGD in embedding space on the test split (each token's embedding moves at most
epsilon, L2). Prints one JSON object with clean and attacked test accuracy per variant.

    nice -n 10 .venv/bin/python benchmarks/adversarial.py --epsilon 0.5 -- \
        data.max_train_examples=200 model.max_length=32 train.epochs=2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pretune.config import load_config
from pretune.data.encode import encode_labels, encode_split
from pretune.data.text_classification import prepare_data
from pretune.evaluate.robustness import evaluate_under_attack
from pretune.models.load import load_classifier, load_tokenizer
from pretune.recipes.finetune import run_finetune

VARIANTS = {
    "plain": [],
    "fgm": ["techniques.fgm.epsilon={eps}"],
    "pgd": ["techniques.pgd.epsilon={eps}", "techniques.pgd.steps=3"],
}


def compare(
    overrides: list[str],
    out: Path,
    variants: list[str],
    epsilon: float,
    attack_steps: int = 5,
    train_epsilon: float | None = None,
) -> dict[str, Any]:
    """Train each variant with `overrides`, then PGD-attack each on the clean test split."""
    results: dict[str, Any] = {}
    eps = train_epsilon if train_epsilon is not None else epsilon
    for name in variants:
        extra = [o.format(eps=eps) for o in VARIANTS[name]]
        cfg = load_config(None, [*overrides, f"output_dir={out}", f"name={name}", *extra])
        summary = run_finetune(cfg, log=lambda _: None)
        run = Path(summary["run_dir"]) / "model"
        data = prepare_data(cfg.data, cfg.seed)
        tokenizer = load_tokenizer(run)
        test = data.splits["test"]
        labels = encode_labels(test["label"], data.label_names, "test split")
        split = encode_split(
            tokenizer, test["text"], max_length=cfg.model.max_length, labels=labels
        )
        model = load_classifier(run, data.label_names, max_length=cfg.model.max_length)
        attack = evaluate_under_attack(model, split, "pgd", epsilon, attack_steps, 32)
        results[name] = {
            "clean_accuracy": round(attack["clean_accuracy"], 4),
            "pgd_accuracy": round(attack["attacked_accuracy"], 4),
            "train_seconds": summary["timing"]["train_seconds"],
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilon", type=float, default=0.5, help="attack budget per token")
    parser.add_argument("--train-epsilon", type=float, default=None)
    parser.add_argument("--attack-steps", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = compare(
            args.overrides, Path(tmp), args.variants, args.epsilon, args.attack_steps,
            args.train_epsilon,
        )  # fmt: skip
    print(json.dumps({
        "overrides": args.overrides, "attack": {"method": "pgd", "epsilon": args.epsilon,
        "steps": args.attack_steps}, "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
