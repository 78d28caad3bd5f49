"""Compare pretune's few-shot methods with the `setfit` package on the same draws.

    python benchmarks/fewshot_setfit.py --shots 2 8 --draws 3 [--max-length 128]
        [--pairs-per-example 10] [--test-fraction 0.1] [--output results.json]

For each shot count and draw, the shots and the test rows are exactly those of
`pretune fewshot` (same corpus split, `draw_shots` with seed `seed*1000+draw`):
  - logreg:   pretune, logistic regression on frozen mean-pooled MiniLM embeddings (baseline)
  - protonet: pretune, nearest class mean of frozen embeddings
  - pretune-setfit: pretune's contrastive tuning (the one loop) + logistic head
  - setfit:   the `setfit` package (SetFitModel + Trainer), num_iterations = pairs per example,
              same batch size, epochs, learning rate and max length
Needs `pip install setfit` (1.2.0 installs beside torch 2.13 / transformers 5 / datasets 5
without changing them). If it is missing or fails to train, the script says so and reports
the pretune methods only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def setfit_package_accuracy(
    model_path: Path, texts: list[str], labels: np.ndarray, test_texts: list[str],
    y_test: np.ndarray, args: argparse.Namespace, seed: int,
) -> float:  # fmt: skip
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(model_path))
    # TrainingArguments.max_length only reaches setfit's differentiable head; the body trains
    # and encodes at its own max_seq_length (256 for all-MiniLM-L6-v2) unless set here.
    model.model_body.max_seq_length = args.max_length
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out,
            batch_size=args.batch_size,
            num_epochs=1,
            num_iterations=args.pairs_per_example,
            body_learning_rate=args.lr,
            max_length=args.max_length,
            seed=seed,
            report_to="none",
            save_strategy="no",
        )
        train = Dataset.from_dict({"text": texts, "label": labels.tolist()})
        Trainer(model=model, args=training_args, train_dataset=train).train()
    pred = np.asarray(model.predict(test_texts, batch_size=32))
    return float((pred == y_test).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--pairs-per-example", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "pretune-emb"))
    parser.add_argument("--skip-package", action="store_true", help="pretune methods only")
    parser.add_argument(
        "--skip-pretune-setfit",
        action="store_true",
        help="skip pretune's contrastive tuning (e.g. when `pretune fewshot method=setfit` with "
        "the same settings already scored these draws)",
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    from pretune.catalog import recipe as catalog_recipe
    from pretune.catalog.fewshot import FewshotConfig
    from pretune.config import load_config
    from pretune.transfer.data import load_corpus
    from pretune.transfer.draws import draw_seed, frozen_embeddings
    from pretune.transfer.embed import Encoder, embed_texts, load_encoder
    from pretune.transfer.fewshot import (
        draw_shots,
        fit_logreg,
        predict_prototypes,
        prototypes,
        tune_body,
    )  # fmt: skip

    package_error = None
    if not args.skip_package:
        try:
            import setfit  # noqa: F401
        except Exception as exc:  # not installed, or incompatible with this transformers
            package_error = f"setfit unavailable: {exc}"
            print(package_error, file=sys.stderr)

    cfg = load_config(
        None,
        [f"model.max_length={args.max_length}", f"pairs_per_example={args.pairs_per_example}",
         f"train.batch_size={args.batch_size}", f"train.lr={args.lr}",
         f"test_fraction={args.test_fraction}", f"seed={args.seed}",
         f"cache_dir={args.cache_dir}"],
        defaults=catalog_recipe("fewshot").defaults(), schema=FewshotConfig,
    )  # fmt: skip
    corpus = load_corpus(cfg.data, cfg.seed, cfg.test_fraction)
    encoder = load_encoder("minilm")
    test_texts = [corpus.texts[i] for i in corpus.test]
    y_test = corpus.labels[corpus.test]
    results: dict = {"settings": vars(args) | {"output": str(args.output)}, "runs": []}
    for shots in args.shots:
        draws = [draw_shots(corpus.labels, corpus.pool, shots, draw_seed(cfg.seed, d))
                 for d in range(args.draws)]  # fmt: skip
        frozen = frozen_embeddings(cfg, encoder, corpus, np.concatenate([corpus.test, *draws]),
                                   print)  # fmt: skip
        for d, rows in enumerate(draws):
            y = corpus.labels[rows]
            texts = [corpus.texts[i] for i in rows]
            run: dict = {"shots": shots, "draw": d}
            head = fit_logreg(frozen[rows], y, 1.0, draw_seed(cfg.seed, d))
            run["logreg"] = float((head.predict(frozen[corpus.test]) == y_test).mean())
            classes, protos = prototypes(frozen[rows], y)
            run["protonet"] = float(
                (predict_prototypes(frozen[corpus.test], classes, protos) == y_test).mean()
            )
            if not args.skip_pretune_setfit:
                started = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    body, _ = tune_body(cfg, encoder.model, encoder.tokenizer, texts, y,
                                        draw_seed(cfg.seed, d), Path(tmp), print)  # fmt: skip
                tuned = Encoder(body, encoder.tokenizer, encoder.path)
                x_shot = embed_texts(tuned, texts, args.max_length)
                x_test = embed_texts(tuned, test_texts, args.max_length)
                head = fit_logreg(x_shot, y, 1.0, draw_seed(cfg.seed, d))
                run["pretune_setfit"] = float((head.predict(x_test) == y_test).mean())
                run["pretune_setfit_seconds"] = round(time.perf_counter() - started, 1)
            if package_error is None and not args.skip_package:
                started = time.perf_counter()
                try:
                    run["setfit"] = setfit_package_accuracy(
                        encoder.path, texts, y, test_texts, y_test, args, draw_seed(cfg.seed, d)
                    )
                    run["setfit_seconds"] = round(time.perf_counter() - started, 1)
                except Exception as exc:  # e.g. an API change in transformers 5
                    package_error = f"setfit failed to train: {type(exc).__name__}: {exc}"
                    print(package_error, file=sys.stderr)
            print(json.dumps(run), flush=True)
            results["runs"].append(run)
    results["setfit_package"] = package_error or "ok"
    summary = {}
    for shots in args.shots:
        rows = [r for r in results["runs"] if r["shots"] == shots]
        for key in ("logreg", "protonet", "pretune_setfit", "setfit"):
            values = [r[key] for r in rows if key in r]
            if values:
                std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                summary[f"{key}@{shots}"] = f"{np.mean(values):.4f} ± {std:.4f} (n={len(values)})"
    results["summary"] = summary
    print(json.dumps(summary, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
