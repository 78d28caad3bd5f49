"""Does MLM pre-training help with few labels? (issue 4, item 6a)

1. Split BBC News exactly as `pretune finetune` does (stratified, seed 0: train / validation /
   test). Only the *training split's* article texts (labels dropped) go to pre-training, so no
   validation or test article is ever seen, not even unlabelled.
2. MLM-pre-train a tiny BERT (preset tiny, WordPiece tokenizer trained on that text) for
   `--pretrain-steps` steps. The run lives in `<workdir>/pretrain` and is resumed exactly if it was
   interrupted, or reused if it finished (checkpoints every 100 steps).
3. For each seed: draw a stratified 5% of the training split's labels (85 of 1,699 articles),
   and fine-tune (a) the pre-trained model and (b) the same architecture, same tokenizer, from
   random initialisation (a fresh init per seed), with the SAME recipe and the same examples.
   There is no validation split (a few-labels setting has no labelled validation set to pick
   checkpoints with): each run trains for a fixed number of epochs and its final model is tested
   on the 213 test articles.
Prints ONE JSON object: pre-training metrics, per-seed test accuracy / macro-F1 of both arms at
each learning rate, their mean and standard deviation, and the paired (same seed, same labels)
difference. Results and analysis: docs/pretraining.md, "Few labels".

    nice -n 10 .venv/bin/python benchmarks/few_labels.py --workdir /tmp/few_labels

Finished runs in the workdir are reused, so arms and seeds can run as separate processes
(`--arms random_init`, `--arms pretrained --seeds 3`) and a last plain call gathers them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

SPLIT_SEED = 0  # the finetune recipe's default seed: the split every arm and seed shares


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    # Written aside, then renamed: runs of single arms/seeds may share a workdir concurrently.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


def prepare_files(workdir: Path) -> dict[str, Any]:
    """Pre-training text, labelled train split and test split as files; checks for leakage."""
    from pretune.config import DataConfig
    from pretune.data.text_classification import prepare_data

    data = prepare_data(DataConfig(source="bbc", val_fraction=0.1, test_fraction=0.1), SPLIT_SEED)
    rows = {
        key: [
            {"text": t, "label": y}
            for t, y in zip(split["text"][:], split["label"][:], strict=True)
        ]
        for key, split in data.splits.items()
    }
    held_out = {r["text"] for key in ("validation", "test") for r in rows[key]}
    leaked = sum(r["text"] in held_out for r in rows["train"])
    if leaked:
        raise SystemExit(f"{leaked} training articles also appear in validation/test")
    _write_jsonl(workdir / "pretrain_text.jsonl", [{"text": r["text"]} for r in rows["train"]])
    _write_jsonl(workdir / "train.jsonl", rows["train"])
    _write_jsonl(workdir / "test.jsonl", rows["test"])
    return {key: len(value) for key, value in rows.items()}


def pretrain(workdir: Path, steps: int, threads: int) -> dict[str, Any]:
    """Run (or resume, or reuse) the MLM pre-training in `<workdir>/pretrain`."""
    from pretune.catalog import load_recipe_config
    from pretune.recipes.pretrain import run_pretrain

    run_dir = workdir / "pretrain"
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
        if summary["steps"] != steps:
            raise SystemExit(
                f"{run_dir} holds a finished {summary['steps']}-step run, not {steps} steps; "
                "use another --workdir"
            )
        return summary
    if (run_dir / "checkpoints").is_dir():
        return run_pretrain(None, resume=run_dir, log=print, live_progress=False)  # type: ignore[arg-type]
    cfg = load_recipe_config(
        "pretrain",
        None,
        [
            "objective=mlm",
            f"data.source={workdir / 'pretrain_text.jsonl'}",
            "data.val_fraction=0.05",
            f"output_dir={workdir}",
            "name=pretrain",
            "pretrain.preset=tiny",
            "pretrain.vocab_size=8000",
            "model.max_length=128",
            f"train.max_steps={steps}",
            # Constant LR after warm-up: the weights after N steps do not depend on the planned
            # length, so a longer run stopped at a checkpoint equals a shorter run.
            "train.schedule=constant",
            "train.warmup_steps=100",
            "train.batch_size=32",
            "train.lr=1e-3",
            "train.eval_every=250",
            "train.checkpoint_every=100",
            "train.log_every=50",
            f"train.num_threads={threads}",
            f"seed={SPLIT_SEED}",
        ],
    )
    return run_pretrain(cfg, log=print, live_progress=False)


def label_subset(workdir: Path, size: int, seed: int) -> Path:
    """A stratified `size`-article labelled subset of the training split (one per seed)."""
    from sklearn.model_selection import train_test_split

    rows = [json.loads(line) for line in (workdir / "train.jsonl").open()]
    keep, _ = train_test_split(
        list(range(len(rows))),
        train_size=size,
        random_state=seed,
        stratify=[r["label"] for r in rows],
    )
    path = workdir / f"labels-{size}-seed{seed}.jsonl"
    _write_jsonl(path, [rows[i] for i in sorted(keep)])
    return path


def random_init(workdir: Path, seed: int) -> Path:
    """The pre-trained run's architecture and tokenizer with fresh random weights."""
    import torch

    from pretune.models.load import load_tokenizer
    from pretune.models.presets import build_lm

    path = workdir / f"random-init-seed{seed}"
    tokenizer = load_tokenizer(workdir / "pretrain" / "tokenizer")  # trained before step 1
    torch.manual_seed(seed)
    build_lm("tiny", "mlm", tokenizer, 128).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def finetune(
    workdir: Path, init: Path, labels: Path, seed: int, lr: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Fine-tune `init` on `labels` with the shared recipe; test metrics of the final model."""
    from pretune.config import load_config
    from pretune.recipes.finetune import run_finetune

    name = f"{init.name}-{labels.stem}-lr{lr:g}"
    done = workdir / "finetune" / name / "summary.json"
    if done.is_file():  # finished earlier (e.g. by a run of one arm only): reuse it
        test = json.loads(done.read_text())["test"]
        return {"accuracy": round(test["accuracy"], 4), "macro_f1": round(test["macro_f1"], 4)}
    cfg = load_config(
        None,
        [
            f"data.source={labels}",
            f"data.test_file={workdir / 'test.jsonl'}",
            "data.val_fraction=0",
            f"model.init_from={init}",
            "model.max_length=128",
            f"output_dir={workdir / 'finetune'}",
            f"name={name}",
            f"train.epochs={args.finetune_epochs}",
            "train.batch_size=16",
            f"train.lr={lr}",
            "train.log_every=1000",
            f"train.num_threads={args.threads}",
            f"seed={seed}",
        ],
    )
    test = run_finetune(cfg, log=lambda *_: None, live_progress=False)["test"]
    return {"accuracy": round(test["accuracy"], 4), "macro_f1": round(test["macro_f1"], 4)}


def _mean_std(values: list[float]) -> dict[str, float]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "std": round(std, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/few_labels"))
    parser.add_argument("--pretrain-steps", type=int, default=2000)
    parser.add_argument("--labels", type=int, default=85, help="5%% of BBC's 1699 train rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4])
    parser.add_argument("--finetune-epochs", type=float, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--arms", nargs="+", default=["pretrained", "random_init"], help="run only some arms"
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {"splits": prepare_files(workdir), "finetune": {}}
    if "pretrained" in args.arms:
        summary = pretrain(workdir, args.pretrain_steps, args.threads)
        results["pretrain"] = {
            "steps": summary["steps"],
            "documents": summary["data"]["documents"],
            "validation": summary["validation"],
            "train_seconds": summary["timing"]["train_seconds"],
        }
    for lr in args.lrs:
        per_seed: dict[str, list[dict[str, Any]]] = {arm: [] for arm in args.arms}
        for seed in args.seeds:
            labels = label_subset(workdir, args.labels, seed)
            for arm in args.arms:
                init = workdir / "pretrain" if arm == "pretrained" else random_init(workdir, seed)
                scores = finetune(workdir, init, labels, seed, lr, args)
                per_seed[arm].append({"seed": seed, **scores})
                print(f"lr {lr:g} seed {seed} {arm}: {scores}", flush=True)
        results["finetune"][f"lr={lr:g}"] = {
            arm: {
                "per_seed": runs,
                "accuracy": _mean_std([r["accuracy"] for r in runs]),
                "macro_f1": _mean_std([r["macro_f1"] for r in runs]),
            }
            for arm, runs in per_seed.items()
        }
        if len(per_seed) == 2:  # same seed = same labelled examples: compare pairwise
            gaps = [
                p["accuracy"] - r["accuracy"]
                for p, r in zip(per_seed["pretrained"], per_seed["random_init"], strict=True)
            ]
            results["finetune"][f"lr={lr:g}"]["pretrained_minus_random_accuracy"] = {
                **_mean_std(gaps),
                "pretrained_wins": sum(g > 0 for g in gaps),
                "seeds": len(gaps),
            }
    results["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
