"""The Python API: one function per catalog recipe, each returning a `Run`.

    import pretune

    run = pretune.finetune(data="reviews.csv", train={"epochs": 2})
    run.summary["test"]["accuracy"], run.path
    run.predict(["Shares fell after the profit warning"])
    run.evaluate("other_reviews.csv")["accuracy"]

`pretune.<recipe>(config=None, *, resume=None, log=<stderr>, **settings)`: `config` is a YAML file;
`settings` override it, as a section mapping (`train={"lr": 3e-5}`), a dotted key written with
double underscores (`train__lr=3e-5`), or, for `data`, the source alone (`data="x.csv"`). The
functions are made from the catalog (`pretune.catalog.RECIPES`), so every recipe has one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pretune.catalog import RECIPES, load_recipe_config, load_run_config
from pretune.catalog import recipe as catalog_entry

__all__ = ["Run", "recipe_function", "settings_to_overrides"]


@dataclass(frozen=True)
class Run:
    """A run folder: what a recipe function returns, and what `Run(path)` opens."""

    path: Path

    @property
    def summary(self) -> dict[str, Any]:
        from pretune.runs import read_summary  # a missing or damaged file: CheckpointError

        return read_summary(self.path)

    @property
    def recipe(self) -> str:
        from pretune.models.damage import read_yaml_file  # a damaged file: CheckpointError

        return read_yaml_file(self.path / "config.yaml")["recipe"]

    @property
    def config(self) -> Any:
        """The run's config, loaded with the schema of the recipe it records."""
        return load_run_config(self.path / "config.yaml")

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl (training steps and evaluations)."""
        lines = (self.path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """[{"label", "probability", "probabilities": {label: p}}] for each text."""
        from pretune.runs import predict_texts

        names, probs = predict_texts(self.path, list(texts))
        return [
            {"label": names[int(row.argmax())], "probability": float(row.max()),
             "probabilities": {n: float(p) for n, p in zip(names, row, strict=True)}}
            for row in probs
        ]  # fmt: skip

    def evaluate(self, source: str | Path, **options: Any) -> dict[str, Any]:
        """`pretune evaluate RUN data=SOURCE`: the metrics on another labelled set. Writes
        nothing unless asked: `save=True` writes into the run (eval/<name>/), `output=DIR`
        into DIR; other options as on the command line (`calibrate=True`, ...)."""
        from pretune.recipes.evaluate import EvalOptions, evaluate_run

        return evaluate_run(self.path, EvalOptions(data=str(source), **options), log=_quiet)


def _quiet(message: str) -> None:
    del message


def _to_stderr(message: str) -> None:
    # Progress goes to stderr, as on the command line: stdout stays the caller's.
    print(message, file=sys.stderr, flush=True)


def _yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("...").strip()


def settings_to_overrides(settings: dict[str, Any]) -> list[str]:
    """`{"train": {"lr": 3e-5}, "data": "x.csv", "model__max_length": 64}` ->
    `["train.lr=3e-05", "data.source=x.csv", "model.max_length=64"]`."""
    overrides: list[str] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict) and key not in ("techniques",) and value:
            for sub, inner in value.items():
                add(f"{key}.{sub}", inner)
        else:
            overrides.append(f"{key}={_yaml_value(value)}")

    for key, value in settings.items():
        key = key.replace("__", ".")
        if key == "data" and isinstance(value, str | Path):
            value = {"source": str(value)}
        if key == "techniques" and isinstance(value, dict):
            for name, params in value.items():
                add(f"techniques.{name}", params if params not in (None, True) else {})
            continue
        add(key, value)
    return overrides


def recipe_function(name: str) -> Callable[..., Run]:
    """The Python API function of catalog recipe `name`."""
    entry = catalog_entry(name)

    def run(
        config: str | Path | None = None,
        *,
        resume: str | Path | None = None,
        log: Callable[[str], None] = _to_stderr,
        **settings: Any,
    ) -> Run:
        runner = entry.run_function()
        if resume is not None:
            summary = runner(resume=Path(resume), log=log, live_progress=False)
        else:
            cfg = load_recipe_config(name, config, settings_to_overrides(settings))
            prefix = None if name == entry.schema.RECIPE else name
            summary = runner(cfg, log=log, live_progress=False, folder_prefix=prefix)
        return Run(Path(summary["run_dir"]))

    run.__name__ = run.__qualname__ = name.replace("-", "_")
    run.__doc__ = f"{entry.help.capitalize()}; returns the finished `Run` (`pretune {name}`)."
    return run


# One function per recipe: `pretune.api.finetune(...)`, also reachable as `pretune.finetune`.
globals().update({n.replace("-", "_"): recipe_function(n) for n in RECIPES})
__all__ += [n.replace("-", "_") for n in RECIPES]
