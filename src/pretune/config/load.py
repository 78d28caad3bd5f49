"""Load a run config: defaults, then a YAML file, then `a.b=value` overrides, validated.

Unknown keys and bad values are errors that name the key and suggest the closest valid one;
settings that depend on each other are checked together and never silently changed.

Example:
    >>> cfg = load_config(None, ["train.lr=3e-5", "data.source=reviews.csv"])
    >>> cfg.train.lr
    3e-05
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from pretune.config.compose import compose
from pretune.config.sections import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
    check_validation_for_early_stopping,
)
from pretune.errors import ConfigError

__all__ = [
    "TECHNIQUES_FIELD",
    "RunConfig",
    "apply_overrides",
    "describe_fields",
    "load_config",
    "parse_override",
    "save_config",
]

# The `techniques:` mapping; its entries are checked against the technique registry by the
# catalog (techniques sit above config in the layers).
TECHNIQUES_FIELD = (
    dict[str, Any],
    Field(
        default_factory=dict,
        description="Techniques by name with their parameters, e.g. {ema: {decay: 0.999}} "
        "(`pretune techniques` lists them).",
    ),
)

# The text-classifier sections: what `load_config` builds when given no schema. The catalog's
# `finetune` schema is the same with the registry checks (optimizer, loss, techniques) added.
RunConfig = compose(
    "finetune",
    "A text-classification run: data, model, train, eval and techniques.",
    task_kind="classify",
    validators=[check_validation_for_early_stopping],
    data=DataConfig,
    model=ModelConfig,
    train=TrainConfig,
    eval=EvalConfig,
    techniques=TECHNIQUES_FIELD,
)


def _closest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _is_mapping_field(annotation: Any) -> bool:
    # A free-form mapping (e.g. `techniques: {name: {param: value}}`) takes any sub-keys; its
    # contents are validated by the section's own validator.
    return getattr(annotation, "__origin__", annotation) is dict


def _section_fields(model_cls: type[BaseModel], path: list[str]) -> type[BaseModel]:
    """Walk `path` through nested sections, raising ConfigError on an unknown key."""
    current = model_cls
    for depth, key in enumerate(path):
        fields = current.model_fields
        if key not in fields:
            where = ".".join(path[:depth]) or "the config"
            full = ".".join(path[: depth + 1])
            valid = [".".join([*path[:depth], name]) for name in fields]
            raise ConfigError(
                f"unknown config key '{full}'{_closest(full, valid)}; keys in {where}: "
                + ", ".join(fields)
            )
        annotation = fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        elif _is_mapping_field(annotation):
            return current
        elif depth < len(path) - 1:
            raise ConfigError(f"config key '{'.'.join(path[: depth + 1])}' has no sub-keys")
    return current


def _field_model(model_cls: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    current: type[BaseModel] = model_cls
    for key in path:
        annotation = current.model_fields[key].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _plain_list(raw: str) -> Any:
    """`[*emb*,layer.*]` is not YAML (`*` starts an alias), but it is plainly a list of
    patterns: split it on commas. Other unparsable values stay text."""
    text = raw.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return raw
    return [part.strip() for part in text[1:-1].split(",") if part.strip()]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (["a", "b"], value), with the value parsed as YAML (1e-4 -> float)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form key=value (e.g. train.lr=3e-5)")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override '{item}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = _plain_list(raw)
    # YAML 1.1 reads '1e-4' as a string (no dot); users mean a number. It also reads yes/no/
    # on/off as booleans, which would turn `mixed_precision=no` into False: keep those as text
    # (pydantic still accepts them for boolean fields).
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        value = float(value)
    elif isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        value = raw.strip()
    return key.strip().split("."), value


def apply_overrides(
    data: dict[str, Any], overrides: list[str], schema: type[BaseModel] | None = None
) -> dict[str, Any]:
    """A copy of `data` with each `a.b=value` override set (keys checked against `schema`)."""
    merged = _deep_copy(data)
    schema = schema or RunConfig
    for item in overrides:
        path, value = parse_override(item)
        _refuse_hinted_key(schema, ".".join(path))
        _section_fields(schema, path)
        node = merged
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{key}' is a value, not a section")
        node[path[-1]] = value
    return merged


def _refuse_hinted_key(schema: type[BaseModel], key: str) -> None:
    hint = getattr(schema, "KEY_HINTS", {}).get(key)
    if hint:
        recipe = getattr(schema, "RECIPE", "")
        raise ConfigError(
            f"{key} is not a setting of `pretune {recipe}`: {hint.format(recipe=recipe)}"
        )


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def _format_validation_error(error: ValidationError, origin: str, schema: type[BaseModel]) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        hint = getattr(schema, "KEY_HINTS", {}).get(key)
        if item["type"] == "extra_forbidden" and hint:
            recipe = getattr(schema, "RECIPE", "")
            lines.append(
                f"{key} is not a setting of `pretune {recipe}`: {hint.format(recipe=recipe)}"
            )
        elif item["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{key}'{_suggest_for_extra(item['loc'], schema)}")
        elif key:
            got = item.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"{key}: {message}{shown}")
        else:
            lines.append(message)
    return f"invalid config{origin}: " + "; ".join(lines)


def _suggest_for_extra(loc: tuple, schema: type[BaseModel]) -> str:
    path = [str(p) for p in loc]
    section = _field_model(schema, path[:-1]) if len(path) > 1 else schema
    if section is None:
        return ""
    valid = [".".join([*path[:-1], name]) for name in section.model_fields]
    return _closest(".".join(path), valid)


def load_config(
    path: str | Path | None,
    overrides: list[str] | None = None,
    defaults: dict[str, Any] | None = None,
    schema: type[BaseModel] | None = None,
) -> Any:
    """Build a RunConfig from recipe defaults, then a YAML file, then `key=value` overrides.

    Args:
        path: YAML file or None.
        overrides: items like `train.lr=3e-5`, applied last.
        defaults: the recipe's own defaults (e.g. quickstart's), applied first.
        schema: the recipe's config class (`pretune.catalog` has one per recipe; default:
            `RunConfig`, the text-classifier sections without the registry checks).

    Raises:
        ConfigError: a missing/unreadable file, an unknown key or an invalid value.
    """
    data: dict[str, Any] = _deep_copy(defaults or {})
    origin = ""
    if path is not None:
        path = Path(path)
        origin = f" in {path}"
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of sections (data:, model:, train:)")
        data = _merge(data, loaded)
    schema = schema or RunConfig
    data = apply_overrides(data, overrides or [], schema)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin, schema)) from None


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def save_config(config: BaseModel, path: Path) -> None:
    """Write the fully resolved config (defaults included) as YAML."""
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), "utf-8")


def describe_fields(config: BaseModel, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, current value, one-line help) for every leaf field, in declaration order."""
    rows: list[tuple[str, Any, str]] = []
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows.extend(describe_fields(value, prefix=f"{key}."))
        else:
            rows.append((key, value, field.description or ""))
    return rows
