"""Recipe: stratified k-fold cross-validation of a whole fine-tuning config.

    load + clean the source once -> StratifiedKFold(folds, seed) -> for each fold:
    write its train/test rows -> run_finetune (validation carved from the fold's train part,
    test = the fold) -> per-fold test metrics -> mean ± sample std -> runs/<name>/cv.json

Each fold is a normal run folder `runs/<name>/fold-<i>/`. Resumable checkpoints are removed
after a fold finishes; `model/` is kept only with `keep_models=True`, and the kept fold models
form an ensemble (`ensemble_predict` averages their probabilities).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pretune.config import RunConfig
from pretune.errors import CheckpointError, ConfigError, DataError
from pretune.files import write_json_atomic
from pretune.process_state import leaves_process_as_found

__all__ = ["CV_METRICS", "aggregate", "ensemble_predict", "fold_indices", "run_cv"]

CV_METRICS = (
    "accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "loss",
    "roc_auc_macro", "pr_auc_macro", "log_loss", "mcc",
)  # fmt: skip


def fold_indices(labels: list[str], folds: int, seed: int) -> list[np.ndarray]:
    """Test-row indices of each stratified fold (shuffled with `seed`).

    Raises:
        ConfigError: folds < 2.
        DataError: a label has fewer rows than folds (it cannot appear in every fold).
    """
    from collections import Counter

    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ConfigError(f"folds={folds}: cross-validation needs at least 2 folds")
    rare = {label: n for label, n in Counter(labels).items() if n < folds}
    if rare:
        shown = ", ".join(f"{label!r} ({n} rows)" for label, n in sorted(rare.items()))
        raise DataError(
            f"label(s) {shown} have fewer rows than folds={folds}; lower folds or add data"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels)]


def aggregate(per_fold: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """(mean, sample standard deviation) of each metric over folds (std 0.0 for one fold)."""
    mean, std = {}, {}
    for key in CV_METRICS:
        values = [f["metrics"][key] for f in per_fold if f["metrics"].get(key) is not None]
        if values:
            mean[key] = float(np.mean(values))
            std[key] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return mean, std


def _write_jsonl(path: Path, texts: list[str], labels: list[str], rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for i in rows:
            handle.write(json.dumps({"text": texts[i], "label": labels[i]}, ensure_ascii=False))
            handle.write("\n")


def _fold_config(cfg: RunConfig, cv_dir: Path, fold: int, train: Path, test: Path) -> RunConfig:
    data = cfg.model_dump(mode="json")
    data.update(name=f"fold-{fold}", output_dir=str(cv_dir))
    data["data"].update(
        source=str(train), test_file=str(test), text_column="text", label_column="label",
        test_fraction=0.0,
    )  # fmt: skip
    return RunConfig.model_validate(data)


def _cv_dir(cfg: RunConfig) -> Path:
    cv_dir = Path(cfg.output_dir) / (cfg.name or f"cv-{time.strftime('%Y%m%d-%H%M%S')}")
    if cv_dir.exists() and any(cv_dir.iterdir()):
        raise CheckpointError(f"{cv_dir} already exists; choose another name=")
    cv_dir.mkdir(parents=True, exist_ok=True)
    return cv_dir


@leaves_process_as_found()
def run_cv(
    cfg: RunConfig,
    folds: int = 5,
    keep_models: bool = False,
    log: Callable[[str], None] = print,
    live_progress: bool | None = None,
) -> dict[str, Any]:
    """Cross-validate `cfg` over `folds` stratified folds; returns (and saves) cv.json."""
    from pretune.data.text_classification import prepare_data
    from pretune.recipes.finetune import run_finetune

    if cfg.data.test_file:
        raise ConfigError("cv makes its own test folds; drop data.test_file")
    # The whole cleaned source, unsplit: folds are the splits. Balancing and subsampling
    # happen per fold, inside run_finetune.
    pool_cfg = cfg.data.model_copy(
        update={"val_fraction": 0.0, "test_fraction": 0.0, "max_train_examples": None,
                "balance": "none", "validation_file": None}
    )  # fmt: skip
    pool = prepare_data(pool_cfg, cfg.seed).splits["train"]
    texts, labels = list(pool["text"][:]), list(pool["label"][:])  # one read each
    tests = fold_indices(labels, folds, cfg.seed)
    cv_dir = _cv_dir(cfg)
    result: dict[str, Any] = {
        "folds": folds, "seed": cfg.seed, "rows": len(texts), "keep_models": keep_models,
        "config": cfg.model_dump(mode="json"), "per_fold": [],
    }  # fmt: skip
    write_json_atomic(cv_dir / "folds.json", [t.tolist() for t in tests])
    for fold, test_rows in enumerate(tests, start=1):
        train_rows = np.setdiff1d(np.arange(len(texts)), test_rows)
        data_dir = cv_dir / ".fold-data"
        _write_jsonl(data_dir / "train.jsonl", texts, labels, train_rows)
        _write_jsonl(data_dir / "test.jsonl", texts, labels, test_rows)
        fold_cfg = _fold_config(
            cfg, cv_dir, fold, data_dir / "train.jsonl", data_dir / "test.jsonl"
        )
        log(f"fold {fold}/{folds}: train {len(train_rows)} rows, test {len(test_rows)} rows")
        summary = run_finetune(fold_cfg, folder_prefix="cv", log=log, live_progress=live_progress)
        run_dir = Path(summary["run_dir"])
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        if not keep_models:
            shutil.rmtree(run_dir / "model", ignore_errors=True)
        metrics = {k: summary["test"].get(k) for k in CV_METRICS}
        result["per_fold"].append(
            {"fold": fold, "run_dir": str(run_dir), "sizes": summary["data"]["sizes"],
             "train_seconds": summary["timing"]["train_seconds"], "metrics": metrics}
        )  # fmt: skip
        log(f"fold {fold}/{folds}: accuracy {metrics['accuracy']:.4f}, "
            f"macro-F1 {metrics['macro_f1']:.4f}")  # fmt: skip
        write_json_atomic(cv_dir / "cv.json", result)  # progress survives a crash
    shutil.rmtree(cv_dir / ".fold-data", ignore_errors=True)
    result["mean"], result["std"] = aggregate(result["per_fold"])
    if keep_models:
        result["ensemble"] = [f["run_dir"] for f in result["per_fold"]]
    write_json_atomic(cv_dir / "cv.json", result)
    result["cv_dir"] = str(cv_dir)
    return result


def ensemble_predict(cv_dir: Path, texts: list[str], batch_size: int = 64):
    """(label names, mean probabilities (N, K)) of the kept fold models of a cv run.

    The same averaging as `pretune ensemble` (`deploy/ensemble.py`), which also scores the
    fold models together: `pretune ensemble runs/<name>/fold-* data=<labelled file>`.
    """
    from pretune.runs import average_probabilities, predict_texts

    cv_path = Path(cv_dir) / "cv.json"
    if not cv_path.is_file():
        raise CheckpointError(f"{cv_dir} has no cv.json; give a folder `pretune cv` wrote")
    runs = json.loads(cv_path.read_text(encoding="utf-8")).get("ensemble")
    if not runs:
        raise CheckpointError(f"{cv_dir}: fold models were not kept; rerun with keep_models=true")
    names, probs = [], []
    for run in runs:
        own, p = predict_texts(Path(run), texts, batch_size)
        names.append(own)
        probs.append(p)
    return names[0], average_probabilities(probs, names, names[0])
