"""The search space: a YAML mapping from dotted config keys to distributions.

    train.lr:          {type: float, low: 1e-5, high: 1e-3, log: true}
    train.batch_size:  {type: categorical, choices: [8, 16]}
    train.epochs:      {type: int, low: 1, high: 3}
    techniques.ema:    {type: bool}                      # true: on with its defaults; false: off
    techniques.ema.decay: {type: float, low: 0.9, high: 0.999, when: {techniques.ema: true}}

`when: {<earlier key>: <value or list of values>}` makes a parameter conditional: it is sampled
(and set) only in trials where that earlier parameter took one of the values. Parameters are
sampled in file order, so a condition must refer to a key above it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pretune.config import RunConfig, apply_overrides
from pretune.errors import ConfigError

__all__ = ["Param", "apply_params", "grid_space", "load_space", "parse_space", "sample_params"]

TYPES = ("float", "int", "categorical", "bool")


@dataclass(frozen=True)
class Param:
    """One searched config key."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def _number(key: str, name: str, value: Any) -> float:
    # YAML 1.1 reads `1e-5` (no dot) as a string; accept it as the number the user meant.
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"search space {key}: '{name}' must be a number, got {value!r}") from None


def _parse_one(key: str, spec: Any, earlier: dict[str, Param], schema: type[RunConfig]) -> Param:
    if not isinstance(spec, dict):
        raise ConfigError(
            f"search space {key}: expected a mapping like {{type: float, low: 1e-5, high: 1e-3}}, "
            f"got {spec!r}"
        )
    unknown = set(spec) - {"type", "low", "high", "log", "step", "choices", "when"}
    if unknown:
        raise ConfigError(f"search space {key}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ConfigError(
            f"search space {key}: type must be one of {', '.join(TYPES)}, got {kind!r}"
        )
    try:  # the key must be a real config key (with a did-you-mean hint when it is not)
        apply_overrides({}, [f"{key}=0"], schema)
    except ConfigError as exc:
        raise ConfigError(f"search space {key}: {exc}") from None
    when = _parse_when(key, spec.get("when") or {}, earlier)
    if kind in ("float", "int"):
        for name in ("low", "high"):
            if name not in spec:
                raise ConfigError(f"search space {key}: type {kind} needs '{name}'")
        low, high = _number(key, "low", spec["low"]), _number(key, "high", spec["high"])
        if not low < high:
            raise ConfigError(f"search space {key}: low ({low}) must be below high ({high})")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise ConfigError(f"search space {key}: log: true needs low > 0 (got {low})")
        step = _number(key, "step", spec["step"]) if spec.get("step") is not None else None
        if kind == "int":
            low, high = int(low), int(high)
            step = int(step) if step else None
        return Param(key, kind, low, high, log, step, (), when)
    if kind == "bool":
        return Param(key, kind, choices=(False, True), when=when)
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"search space {key}: type categorical needs a non-empty 'choices' list")
    if any(isinstance(c, dict | list) for c in choices):
        raise ConfigError(
            f"search space {key}: choices must be plain values (numbers, strings, true/false)"
        )
    return Param(key, kind, choices=tuple(choices), when=when)


def _parse_when(key: str, when: Any, earlier: dict[str, Param]) -> dict[str, tuple[Any, ...]]:
    if not isinstance(when, dict):
        raise ConfigError(f"search space {key}: 'when' must map an earlier key to its value(s)")
    parsed = {}
    for other, values in when.items():
        if other not in earlier:
            raise ConfigError(
                f"search space {key}: 'when' refers to {other}, which is not a parameter "
                "listed above it"
            )
        parsed[other] = tuple(values) if isinstance(values, list) else (values,)
    return parsed


def parse_space(raw: Any, schema: type[RunConfig] = RunConfig, origin: str = "") -> list[Param]:
    """Validate a loaded space mapping; errors name the offending key."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"search space{origin} must be a non-empty mapping of config keys to distributions"
        )
    params: dict[str, Param] = {}
    for key, spec in raw.items():
        params[str(key)] = _parse_one(str(key), spec, params, schema)
    return list(params.values())


def load_space(path: str | Path, schema: type[RunConfig] = RunConfig) -> list[Param]:
    """Read and validate a space YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"space={path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"space={path} is not valid YAML: {exc}") from None
    return parse_space(raw, schema, f" {path}")


def _active(param: Param, values: dict[str, Any]) -> bool:
    return all(other in values and values[other] in ok for other, ok in param.when.items())


def sample_params(trial: Any, space: list[Param]) -> dict[str, Any]:
    """Ask an Optuna trial for every active parameter, in space order."""
    values: dict[str, Any] = {}
    for p in space:
        if not _active(p, values):
            continue
        if p.type == "float":
            values[p.key] = trial.suggest_float(p.key, p.low, p.high, log=p.log, step=p.step)
        elif p.type == "int":
            values[p.key] = trial.suggest_int(p.key, p.low, p.high, log=p.log, step=p.step or 1)
        else:
            values[p.key] = trial.suggest_categorical(p.key, list(p.choices))
    return values


def grid_space(space: list[Param]) -> dict[str, list[Any]]:
    """The value lists GridSampler needs; floats must have a `step` to be gridded."""
    grid = {}
    for p in space:
        if p.type in ("categorical", "bool"):
            grid[p.key] = list(p.choices)
        elif p.type == "int":
            grid[p.key] = list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))
        elif p.step:
            count = round((p.high - p.low) / p.step) + 1
            grid[p.key] = [round(p.low + i * p.step, 12) for i in range(count)]
        else:
            raise ConfigError(
                f"search space {p.key}: sampler=grid needs a 'step' for float parameters "
                "(or use type: categorical)"
            )
    return grid


def grid_size(space: list[Param]) -> int:
    """How many points the full grid holds."""
    return len(list(itertools.product(*grid_space(space).values())))


def apply_params(
    base: RunConfig, values: dict[str, Any], schema: type[RunConfig] = RunConfig, **top: Any
) -> RunConfig:
    """`base` with each sampled value set at its dotted key (and `top` fields like name).

    `techniques.<name>: false` removes that technique; `true` enables it with its defaults.
    """
    data = base.model_dump(mode="json")
    data.update(top)
    for key, value in values.items():
        path = key.split(".")
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):  # e.g. techniques.ema: true, then ema.decay
                child = node[part] = {}
            node = child
        if path[0] == "techniques" and len(path) == 2 and value is False:
            node.pop(path[-1], None)
        elif path[0] == "techniques" and len(path) == 2 and value is True:
            node.setdefault(path[-1], {})
        else:
            node[path[-1]] = value
    try:
        return schema.model_validate(data)
    except Exception as exc:  # pydantic's message names the key
        raise ConfigError(f"search produced an invalid config {values}: {exc}") from None
