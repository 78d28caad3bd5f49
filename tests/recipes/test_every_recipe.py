"""What every recipe in the catalog that trains gets from the one session, checked on each.

The recipes are read from the catalog and their tiny setups from `tests/recipe_setups.py`, so a
new recipe gets these tests by being listed: it trains a few steps and records what ran; a run
interrupted right after a checkpoint resumes to bit-identical weights and the same metrics log;
early stopping stops it when its validation metric stops improving.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from safetensors.torch import load_file

from helpers import Interrupted, StopAfterCheckpoint
from pretune.catalog import RECIPES, load_recipe_config
from pretune.catalog import recipe as catalog_entry
from pretune.config import describe_fields, reads_recorded
from pretune.train.callbacks import LOWER_IS_BETTER
from recipe_setups import NO_SESSION_SETUPS, SETUPS, TinyFiles

STEPS = ("train.max_steps=4", "train.checkpoint_every=2", "train.eval_every=2",
         "train.log_every=1", "train.num_threads=1", "train.lr=1e-3", "train.warmup_ratio=0",
         "train.keep_checkpoints=5")  # fmt: skip

# What differs between two runs of the same computation: wall-clock rates.
TIMING_KEYS = {"examples_per_s", "tokens_per_s"}


@pytest.fixture(autouse=True)
def no_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    # The report is tested per recipe; here it would only add seconds to every run.
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_csv, tiny_bert, tiny_lm, tiny_teacher) -> TinyFiles:
    return TinyFiles(tmp_path_factory.mktemp("setups"), tiny_csv, tiny_bert, tiny_lm,
                     tiny_teacher)  # fmt: skip


# Keys of each setup's config that its run read (filled by the uninterrupted runs).
READ_KEYS: dict[str, set[str]] = {}


def _run(recipe: str, overrides: list[str], reads: set[str] | None = None, **options: Any) -> dict:
    cfg = load_recipe_config(recipe, None, overrides)
    run = catalog_entry(recipe).run_function()
    with reads_recorded(cfg) as recorded:
        summary = run(cfg, log=lambda *_: None, live_progress=False, **options)
    if reads is not None:
        reads.update(recorded.keys())
    return summary


def _overrides(setup: str, files: TinyFiles, out: Path, *extra: str) -> tuple[str, list[str]]:
    recipe, overrides = SETUPS[setup](files)
    return recipe, [*overrides, *STEPS, f"output_dir={out}", "name=run", *extra]


def _records(run: Path, split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows
            if r.get("split") == split]  # fmt: skip


def _weights(run: Path) -> dict[str, Any]:
    found = {}
    for path in sorted((run / "model").rglob("model.safetensors")):
        prefix = path.parent.relative_to(run / "model").as_posix()
        found.update({f"{prefix}/{k}": v for k, v in load_file(str(path)).items()})
    assert found, f"no weights under {run / 'model'}"
    return found


@pytest.fixture(scope="module")
def uninterrupted(files: TinyFiles, tmp_path_factory) -> dict[str, Path]:
    """Each setup's uninterrupted run, made on first use."""

    class Runs(dict):
        def __missing__(self, setup: str) -> Path:
            recipe, overrides = _overrides(setup, files, tmp_path_factory.mktemp(setup))
            reads = READ_KEYS.setdefault(setup, set())
            self[setup] = Path(_run(recipe, overrides, reads)["run_dir"])
            return self[setup]

    return Runs()


def test_every_training_recipe_has_a_tiny_setup() -> None:
    training = {name for name, r in RECIPES.items() if r.trains and name == r.schema.RECIPE}
    covered = {SETUPS[s](TinyFiles(Path(), Path(), Path(), Path(), Path()))[0] for s in SETUPS}
    assert training == covered


@pytest.mark.parametrize("setup", SETUPS)
def test_recipe_trains_and_records_what_ran(setup: str, uninterrupted: dict[str, Path]) -> None:
    run = uninterrupted[setup]
    summary = json.loads((run / "summary.json").read_text())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["recipe"] == summary["recipe"] and summary["steps"] == 4
    losses = [r["loss"] for r in _records(run, "train")]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses), losses
    assert [r["step"] for r in _records(run, "validation")][-2:] == [2, 4]
    assert summary["best_validation"]["step"] in (0, 2, 4)
    assert all(bool(w.isfinite().all()) for w in _weights(run).values() if w.is_floating_point())


@pytest.mark.parametrize("setup", SETUPS)
def test_interrupted_after_a_checkpoint_resumes_bit_identical(
    setup: str, files: TinyFiles, uninterrupted: dict[str, Path], tmp_path: Path
) -> None:
    recipe, overrides = _overrides(setup, files, tmp_path)
    with pytest.raises(Interrupted):
        _run(recipe, overrides, extra_handlers=[StopAfterCheckpoint(2)])
    run = tmp_path / "run"
    assert not (run / "model").exists() and (run / "checkpoints" / "step-2").is_dir()
    summary = catalog_entry(recipe).run_function()(
        resume=run, log=lambda *_: None, live_progress=False
    )
    assert summary["steps"] == 4
    whole = uninterrupted[setup]
    expected, resumed = _weights(whole), _weights(run)
    assert expected.keys() == resumed.keys()
    different = [k for k in expected if not bool((expected[k] == resumed[k]).all())]
    assert not different, different[:5]
    for split in ("train", "validation"):
        assert _records(run, split) == _records(whole, split), split


def _expected_stop(values: list[float], steps: list[int], lower: bool, patience: int) -> int:
    """The step early stopping must stop at, from the evaluations it saw (the last one when
    it never runs out of patience)."""
    best, waited = None, 0
    for value, step in zip(values, steps, strict=True):
        if best is None or (value < best if lower else value > best):
            best, waited = value, 0
        else:
            waited += 1
            if waited >= patience:
                return step
    return steps[-1]


@pytest.mark.parametrize("setup", SETUPS)
def test_early_stopping_stops_when_validation_stops_improving(
    setup: str, files: TinyFiles, tmp_path: Path
) -> None:
    # An LR so small that no weight changes: evaluations repeat the first, so with patience 1
    # the run stops at its second evaluation (step 4 of 8; step 2 for a recipe that also
    # evaluates its starting weights, as RL does). Batch-norm statistics still move, so the
    # stop is checked against what the keeper saw.
    recipe, overrides = _overrides(setup, files, tmp_path, "train.max_steps=8", "train.lr=1e-30",
                                   "train.early_stopping_patience=1")  # fmt: skip
    summary = _run(recipe, overrides)
    metric = load_recipe_config(recipe, None, overrides).eval.metric
    evaluations = _records(tmp_path / "run", "validation")
    values, steps = [r[metric] for r in evaluations], [r["step"] for r in evaluations]
    expected = _expected_stop(values, steps, metric in LOWER_IS_BETTER, patience=1)
    assert summary["steps"] == expected, (steps, values)


# Keys read only on a branch that no tiny setup takes, with the branch.
BRANCH_ONLY = {
    "train.fsdp_wrap": "train.distributed=fsdp with several processes",
    "train.fsdp_reshard_after_forward": "train.distributed=fsdp with several processes",
    "data.label_fraction": "images: instead of data.max_train_examples",
    "reward.batch_size": "rl: reward.classifier",
    "rl.prompt_field": "rl: prompts from a JSONL file",
    "rl.prompt_words": "rl: prompts cut from a corpus (data.source=bbc)",
    "data.text_column": "rl: prompts cut from a corpus",
    "cloze_template": "zeroshot: method=cloze (needs a masked LM with a trained head)",
}


def _recipe_of(setups: dict[str, Any], setup: str) -> str:
    return setups[setup](TinyFiles(*[Path()] * 5))[0]


@pytest.fixture(scope="module")
def no_session_reads(files: TinyFiles, tmp_path_factory) -> dict[str, set[str]]:
    """The keys each transfer setup's run read, from one run each, made on first use."""

    class Reads(dict):
        def __missing__(self, setup: str) -> set[str]:
            recipe, overrides = NO_SESSION_SETUPS[setup](files)
            out = tmp_path_factory.mktemp(setup)
            self[setup] = set()
            _run(recipe, [*overrides, f"output_dir={out}", "name=run"], self[setup])
            return self[setup]

    return Reads()


@pytest.mark.parametrize(
    "recipe",
    sorted({_recipe_of(SETUPS, s) for s in SETUPS} | {_recipe_of(NO_SESSION_SETUPS, s)
                                                       for s in NO_SESSION_SETUPS}),
)  # fmt: skip
def test_recipe_schema_holds_no_key_its_code_ignores(
    recipe: str, files: TinyFiles, uninterrupted: dict[str, Path],
    no_session_reads: dict[str, set[str]],
) -> None:  # fmt: skip
    setups = [s for s in SETUPS if _recipe_of(SETUPS, s) == recipe]
    read = set().union(*(READ_KEYS[s] for s in setups if uninterrupted[s]))
    others = [s for s in NO_SESSION_SETUPS if _recipe_of(NO_SESSION_SETUPS, s) == recipe]
    read |= set().union(*(no_session_reads[s] for s in others))
    keys = {key for key, _, _ in describe_fields(load_recipe_config(recipe))}
    branch_only = {k for k in BRANCH_ONLY if recipe == "rl" or not k.startswith(("rl.", "reward."))}
    unread = sorted(keys - read - branch_only - {"recipe"})
    assert not unread, (
        f"{recipe}: keys its runs ({', '.join(setups + others)}) never read: {unread}"
    )
