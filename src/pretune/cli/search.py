"""`pretune search [config.yaml] [key=value ...] space=SPACE.yaml trials=N [sampler=...]`.

Search-only settings (space, trials, sampler, pruner, storage, workers) are given like overrides;
everything else is the fine-tuning config every trial starts from. `name=` names the search
folder `<output_dir>/<name>/` (trials go in `trial-<n>/` inside it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, split_config_and_overrides
from pretune.cli.output import Block, add_json_flag, emit, mapping_table
from pretune.errors import ConfigError

__all__ = ["register", "split_search_args"]

# `worker` is set by `workers=N` for its child processes: it offsets the sampler seed so that
# workers do not all propose the same parameters.
SEARCH_KEYS = {"space", "trials", "sampler", "pruner", "storage", "workers", "worker", "startup"}


def register(sub: argparse._SubParsersAction) -> None:
    text = "hyper-parameter search: many fine-tuning runs, chosen by Optuna"
    parser = sub.add_parser("search", help=text, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "args", nargs="*",
        help="config.yaml, key=value overrides and space=, trials=, sampler=tpe|random|grid|"
        "cmaes, pruner=median|halving|none, storage=URL, workers=N, startup=N (TPE's random "
        "trials first; default a third of trials, 3 to 10)",
    )  # fmt: skip
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def split_search_args(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Pull the search settings out of the argument list; the rest are config arguments."""
    settings, rest = {}, []
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key in SEARCH_KEYS:
            settings[key] = value
        else:
            rest.append(item)
    return settings, rest


def _int(settings: dict[str, str], key: str, default: int) -> int:
    try:
        return int(settings.get(key, default))
    except ValueError:
        raise ConfigError(f"{key}={settings[key]} must be a whole number") from None


def run(args: argparse.Namespace) -> int:
    from pretune.catalog import load_recipe_config
    from pretune.hpo.results import write_results
    from pretune.hpo.space import load_space
    from pretune.hpo.study import PRUNERS, SAMPLERS, SearchSpec, open_study, run_search

    settings, rest = split_search_args(list(args.args))
    if "space" not in settings:
        raise ConfigError("pretune search needs space=<space.yaml> (see docs/search.md)")
    config_path, overrides = split_config_and_overrides(rest)
    base = load_recipe_config("finetune", config_path, overrides)
    sampler, pruner = settings.get("sampler", "tpe"), settings.get("pruner", "median")
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler={sampler} unknown; choose from {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise ConfigError(f"pruner={pruner} unknown; choose from {', '.join(PRUNERS)}")
    name = base.name or f"search-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = SearchSpec(
        search_dir=Path(base.output_dir) / name,
        space=load_space(settings["space"], type(base)),
        trials=_int(settings, "trials", 10),
        sampler=sampler,
        pruner=pruner,
        storage=settings.get("storage"),
        seed=base.seed + _int(settings, "worker", 0),
        startup=_int(settings, "startup", 0) if "startup" in settings else None,
    )
    if spec.startup is not None and spec.startup < 1:
        raise ConfigError(f"startup={spec.startup} must be at least 1 (random trials before TPE)")
    workers = _int(settings, "workers", 1)
    if workers > 1:
        open_study(spec)  # create it once, before the workers race to
        argv = [a for a in args.args if not a.startswith(("workers=", "name="))]
        cmd = [sys.executable, "-m", "pretune", "search", *argv, f"name={name}", "workers=1"]
        procs = [subprocess.Popen([*cmd, f"worker={i}"]) for i in range(workers)]
        codes = [p.wait() for p in procs]
        if any(codes):
            log_line(f"warning: worker exit codes {codes}")
        study = open_study(spec)
    else:
        from pretune.recipes.finetune import run_finetune

        study = run_search(base, spec, train_fn=run_finetune, log=log_line)
    written = write_results(study, base, spec.search_dir)
    return emit(_search_result(study, base.eval.metric, written, spec.search_dir), args.json,
                _search_blocks)  # fmt: skip


def _search_result(study: Any, metric: str, written: dict, search_dir: Path) -> dict[str, Any]:
    from pretune.hpo.results import trial_rows

    headers, rows = trial_rows(study)
    best = study.best_trial if written["best"] is not None else None
    return {
        "metric": metric,
        "trials": [dict(zip(headers, row, strict=True)) for row in rows],
        "importances": written["importances"],
        "importances_note": written.get("importances_note"),
        "best": None if best is None else {"trial": best.number, "value": best.value,
                                           "config": str(search_dir / "best.yaml")},
        "report": str(search_dir / "search.html"),
    }  # fmt: skip


def _search_blocks(result: dict[str, Any]) -> list[Block]:
    trials = {str(t.pop("trial")): t for t in [dict(t) for t in result["trials"]]}
    blocks: list[Block] = [mapping_table(f"trials ({result['metric']})", trials)]
    if result["importances"]:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in result["importances"].items())
        blocks.append(f"importances: {shown}")
    elif result.get("importances_note"):
        blocks.append(f"importances: {result['importances_note']}")
    if result["best"]:
        best = result["best"]
        blocks.append(f"best: trial {best['trial']}, {result['metric']}={best['value']:.4f}")
        blocks.append(f"ready to run: pretune finetune {best['config']}")
    return [*blocks, f"search report: {result['report']}"]
