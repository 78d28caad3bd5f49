"""Does pre-training help with few labels? (issue 4, item 6a; cheap CPU settings)

1. MLM-pre-train a tiny BERT (preset tiny) on BBC News text (labels ignored; only the
   training split's documents are used, the finetune test split is held out by the same seed).
2. Fine-tune it on 5% of the BBC training labels, and fine-tune the same architecture with the
   same tokenizer from random initialisation on the same examples.
Prints ONE JSON object with the test accuracy / macro-F1 of both.

    nice -n 10 .venv/bin/python benchmarks/few_labels.py [--pretrain-steps 300]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--labels", type=int, default=89, help="5%% of BBC's 1780 train rows")
    parser.add_argument("--finetune-epochs", type=float, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from pretune.config import load_config
    from pretune.models.load import load_tokenizer
    from pretune.models.presets import build_lm
    from pretune.recipes.catalog import recipe_spec
    from pretune.recipes.finetune import run_finetune
    from pretune.recipes.pretrain import run_pretrain

    quiet = lambda *_: None  # noqa: E731
    common = ["model.max_length=128", f"train.num_threads={args.threads}", "seed=0"]
    with tempfile.TemporaryDirectory() as tmp:
        spec = recipe_spec("pretrain")
        # val/test fractions as in finetune, so pre-training never sees the test articles.
        pre = load_config(
            None,
            [
                "data.source=bbc",
                "data.val_fraction=0.1",
                "data.test_fraction=0.1",
                f"output_dir={tmp}",
                "name=pre",
                "pretrain.vocab_size=8000",
                f"train.max_steps={args.pretrain_steps}",
                "train.batch_size=32",
                "train.lr=1e-3",
                "train.log_every=50",
                *common,
            ],
            defaults=spec.defaults,
            schema=spec.schema,
        )
        pretrained = run_pretrain(pre, log=quiet, live_progress=False)
        scratch = Path(tmp) / "scratch"
        tokenizer = load_tokenizer(Path(tmp) / "pre" / "model")
        torch.manual_seed(0)
        build_lm("tiny", "mlm", tokenizer, 128).save_pretrained(str(scratch))
        tokenizer.save_pretrained(str(scratch))
        results = {
            "pretrain": {
                "steps": pretrained["steps"],
                "validation": pretrained["validation"],
                "train_seconds": pretrained["timing"]["train_seconds"],
            }
        }
        for name, init in (("pretrained", Path(tmp) / "pre"), ("random_init", scratch)):
            cfg = load_config(
                None,
                [
                    "data.source=bbc",
                    f"data.max_train_examples={args.labels}",
                    f"model.init_from={init}",
                    f"output_dir={tmp}",
                    f"name=ft-{name}",
                    f"train.epochs={args.finetune_epochs}",
                    "train.batch_size=16",
                    "train.lr=1e-3",
                    "train.log_every=1000",
                    *common,
                ],
            )
            summary = run_finetune(cfg, log=quiet, live_progress=False)
            test = summary["test"]
            results[name] = {
                "test_accuracy": round(test["accuracy"], 4),
                "test_macro_f1": round(test["macro_f1"], 4),
                "test_examples": test["count"],
            }
    results["settings"] = vars(args)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
