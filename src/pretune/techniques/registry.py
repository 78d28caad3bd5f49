"""How a config's `techniques:` mapping becomes objects, and which combinations are refused.

`TECHNIQUES` itself lives in `entries.py` (technique modules register there without importing
this module); `_load_all` imports `builtin.py`, which imports every shipped technique module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from itertools import combinations
from typing import Any

from pretune.errors import ConfigError
from pretune.techniques.entries import TECHNIQUES

__all__ = [
    "TECHNIQUES",
    "build_techniques",
    "check_technique_combination",
    "check_technique_params",
    "check_technique_values",
    "check_techniques_fit_task",
]


def _load_all() -> None:
    # Importing `builtin` registers every technique module (it never imports this module).
    import pretune.techniques.builtin  # noqa: F401


def check_technique_params(name: str, params: Any) -> dict[str, Any]:
    """Validate one `techniques.<name>` entry against the technique's signature.

    `true` or `{}` or null means "with its defaults". Only unknown names are refused here: a
    missing required parameter (distill's teacher) is named by `check_technique_combination`
    or when the technique is built, after the task-kind check had its say.
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
        signature.bind_partial(**params)
    except TypeError:
        unknown = [k for k in params if k not in accepted]
        raise ConfigError(
            f"techniques.{name}: unknown parameter(s) {', '.join(unknown) or '?'}; "
            f"parameters: {', '.join(accepted) or 'none'}"
        ) from None
    _check_numbers(name, signature, params)
    return params


def _check_numbers(name: str, signature: inspect.Signature, params: dict[str, Any]) -> None:
    # Annotations are text here (postponed evaluation): "float", "int | None", ...
    for key, value in params.items():
        kinds = str(signature.parameters[key].annotation).split(" | ")
        if not {"float", "int"} & set(kinds) or (value is None and "None" in kinds):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML 1.1 reads 1e-5 (no dot) as text; the constructors would fail on it later.
            hint = "; in YAML write exponents with a dot (1.0e-5)" if _numeric_text(value) else ""
            raise ConfigError(f"techniques.{name}.{key} must be a number, got {value!r}{hint}")


def _numeric_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_techniques_fit_task(names: Iterable[str], task_kind: str) -> None:
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


# Pair rules over the declarations (`base.Technique`): (does the pair conflict, why, what to
# do). Each reads what the code does; pairs no rule matches compose (loss changes by wrapping).
_PairRule = tuple[Callable[[Any, Any], bool], str, str]
_PAIR_RULES: list[_PairRule] = [
    (
        lambda a, b: a.replaces_weights and b.replaces_weights,
        "both swap their own weight average in for validation and export, so the saved "
        "weights would be neither average",
        "keep one of them",
    ),
    (
        lambda a, b: a.freezes_params and b.freezes_params,
        "both set which parameters train (LoRA freezes the whole base model), and the one "
        "applied later undoes the other's choice",
        "keep one of them (LoRA trains its adapters and the head; freeze picks by name)",
    ),
    (
        lambda a, b: a.perturbs_embeddings and b.perturbs_embeddings,
        "both hook the word embeddings, and each would record the other's perturbed pass "
        "as its own gradient",
        "keep one of them (fgm is pgd with steps: 1)",
    ),
    (
        lambda a, b: (
            (a.mixes_examples and b.needs_teacher) or (b.mixes_examples and a.needs_teacher)
        ),
        "the student would see mixed examples while the teacher scores the unmixed batch",
        "keep one of them",
    ),
]


def _check_pairs(names: list[str]) -> None:
    for first, second in combinations(names, 2):
        a, b = TECHNIQUES.get(first), TECHNIQUES.get(second)
        for conflicts, why, advice in _PAIR_RULES:
            if conflicts(a, b):
                raise ConfigError(
                    f"techniques.{first} and techniques.{second} cannot be combined: {why}; "
                    f"{advice}"
                )


def _check_teachers(spec: dict[str, Any]) -> None:
    for name, params in spec.items():
        given = isinstance(params, dict) and bool(params.get("teacher"))
        if getattr(TECHNIQUES.get(name), "needs_teacher", False) and not given:
            raise ConfigError(
                f"techniques.{name} needs a teacher: set techniques.{name}.teacher to a "
                "finished `pretune finetune` run folder (runs/<name>) or a classifier "
                "checkpoint folder"
            )


def check_technique_combination(spec: dict[str, Any], task_kind: str | None) -> None:
    """ConfigError (one line naming the techniques and what to do) for a `techniques:` mapping
    that cannot run: a technique unknown or unfit for `task_kind` (None: skip that check), a
    pair whose declarations conflict (`_PAIR_RULES`), or a teacher-needing one without one.
    """
    _load_all()
    names = list(spec)
    for name in names:
        TECHNIQUES.get(name)  # an unknown name is a ConfigError listing the known ones
    if task_kind is not None:
        check_techniques_fit_task(names, task_kind)
    _check_pairs(names)
    _check_teachers(spec)


def _create(name: str, params: dict[str, Any]) -> Any:
    try:
        return TECHNIQUES.create(name, **params)
    except (ValueError, TypeError) as exc:  # the constructor's own checks (decay in (0, 1])
        raise ConfigError(f"techniques.{name}: {exc}") from None


def check_technique_values(name: str, params: dict[str, Any]) -> None:
    """Build the technique once and drop it, so that its constructor refuses bad values
    (`decay=2`, `steps=0`) at config load, before any data or model is read. Skipped for a
    technique whose building loads something (`Technique.cheap_to_build` False): its values
    are checked when the run builds it."""
    _load_all()
    if getattr(TECHNIQUES.get(name), "cheap_to_build", False):
        _create(name, params)


def build_techniques(spec: dict[str, Any]) -> list[Any]:
    """Objects for a config's `techniques` mapping, in its order."""
    _load_all()
    _check_pairs(list(spec))
    _check_teachers(spec)
    return [_create(name, check_technique_params(name, params)) for name, params in spec.items()]
