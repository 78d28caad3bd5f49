"""`pretune evaluate`: open a finished run (`pretune.runs`) and evaluate its classifier on its
own test split or on any labelled source (`pretune.evaluate.run_eval`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pretune.errors import CheckpointError
from pretune.evaluate.run_eval import EvalOptions, evaluate_model
from pretune.process_state import leaves_process_as_found
from pretune.runs import load_run_model, run_config, run_split

__all__ = ["EvalOptions", "evaluate_run"]


@leaves_process_as_found()
def evaluate_run(run: Path, opts: EvalOptions, log: Callable[[str], None] = print) -> dict:
    """Evaluate `run`; returns the metrics dict. Writes metrics.json and predictions.jsonl
    only when asked (`opts.save`: into eval/<name>/; `opts.output`: there); ``"eval_dir"``
    says where (None: nothing written)."""
    run = Path(run)
    if not (run / "config.yaml").is_file() or not (run / "model" / "config.json").is_file():
        raise CheckpointError(
            f"{run} is not a finished pretune run (needs config.yaml and model/); give the "
            "folder that `pretune finetune` printed"
        )
    cfg = run_config(run)
    loaded = load_run_model(run)
    return evaluate_model(
        run, cfg, loaded.model, loaded.tokenizer, loaded.label_names, opts,
        lambda name: run_split(cfg, name), log,
    )  # fmt: skip
