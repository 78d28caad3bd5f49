"""What the recipes on annotated data (NER, QA) share: splitting the source, a split replaced by
its own file, and opening a finished run's model and saved settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pretune.errors import CheckpointError
from pretune.models.load import load_tokenizer

__all__ = ["open_finished_run", "split_with_files"]

Example = TypeVar("Example")
Splitter = Callable[[list[Example], float, float, int], dict[str, list[Example]]]


def split_with_files(
    cfg: Any, load: Callable[[str], list[Example]], split: Splitter
) -> dict[str, list[Example]]:
    """Train/validation/test examples: `data.source` read with `load` and cut by `split(examples,
    val_fraction, test_fraction, seed)`, except that a `data.validation_file` or
    `data.test_file` is that split instead (and nothing of the source is held out for it)."""
    d = cfg.data
    splits = split(
        load(d.source),
        0.0 if d.validation_file else d.val_fraction,
        0.0 if d.test_file else d.test_fraction,
        cfg.seed,
    )
    for key, path in (("validation", d.validation_file), ("test", d.test_file)):
        if path:
            splits[key] = load(path)
    return splits


def open_finished_run(run_dir: Path, model_class: Any, recipe: str) -> tuple[Any, Any, dict]:
    """(model in eval mode, tokenizer, saved config as a dict) of a finished run folder.

    Raises:
        CheckpointError: the folder holds no `model/` (not a finished run of `recipe`).
    """
    import yaml

    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").is_file():
        raise CheckpointError(
            f"{run_dir}: no model/ folder; is it a finished `pretune {recipe}` run?"
        )
    model = model_class.from_pretrained(str(model_dir)).eval()
    config_path = Path(run_dir) / "config.yaml"
    saved = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    return model, load_tokenizer(model_dir), saved or {}
