"""The technique registry and how a config's `techniques:` mapping becomes objects."""

from __future__ import annotations

import inspect
from typing import Any

from pretune.errors import ConfigError
from pretune.registry import Registry

__all__ = ["TECHNIQUES", "build_techniques", "check_technique_params", "check_techniques_fit_task"]

TECHNIQUES: Registry[Any] = Registry("technique")


def _load_all() -> None:
    # Importing the package registers every technique module.
    import pretune.techniques  # noqa: F401


def check_technique_params(name: str, params: Any) -> dict[str, Any]:
    """Validate one `techniques.<name>` entry against the technique's signature.

    `true` or `{}` or null means "with its defaults".
    """
    _load_all()
    factory = TECHNIQUES.get(name)
    if params in (None, True):
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(
            f"techniques.{name} must be a mapping of parameters (or true), got {params!r}"
        )
    signature = inspect.signature(factory)
    accepted = [p for p in signature.parameters if p != "self"]
    try:
        signature.bind(**params)
    except TypeError:
        unknown = [k for k in params if k not in accepted]
        raise ConfigError(
            f"techniques.{name}: unknown parameter(s) {', '.join(unknown) or '?'}; "
            f"parameters: {', '.join(accepted) or 'none'}"
        ) from None
    return params


def check_techniques_fit_task(names: list[str], task_kind: str) -> None:
    """ConfigError for the first technique whose `tasks` declaration excludes `task_kind`.

    Some techniques have no meaning for some tasks (mixing two NER sentences' token labels,
    re-tokenising a QA context under its answer span): refusing them at config time beats a
    shape error mid-run or, worse, a run that trains on misaligned labels.
    """
    _load_all()
    for name in names:
        supported = getattr(TECHNIQUES.get(name), "tasks", None)
        if supported is not None and task_kind not in supported:
            raise ConfigError(
                f"techniques.{name} does not apply to {task_kind} runs; it applies to "
                f"{', '.join(sorted(supported))}. Remove it from the techniques section"
            )


def build_techniques(spec: dict[str, Any]) -> list[Any]:
    """Objects for a config's `techniques` mapping, in its order."""
    built = []
    for name, params in spec.items():
        params = check_technique_params(name, params)
        try:
            built.append(TECHNIQUES.create(name, **params))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"techniques.{name}: {exc}") from None
    return built
