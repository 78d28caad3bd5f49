"""`check_technique_combination` refuses, at config load, the technique pairs whose declared
side effects conflict, naming both, and every other pair builds. The pairs are read from the
registry, so a new technique is checked against every other without editing this file."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from pretune.errors import ConfigError
from pretune.techniques import TECHNIQUES
from pretune.techniques.base import TASK_KINDS
from pretune.techniques.registry import build_techniques, check_technique_combination

# Why each is refused: see `registry._PAIR_RULES` (and the declarations in `base.Technique`).
CONFLICTS = {
    frozenset({"ema", "swa"}),  # both replace the exported weights with their average
    frozenset({"freeze", "lora"}),  # both set requires_grad; the later undoes the earlier
    frozenset({"fgm", "pgd"}),  # both hook the word embeddings and record each other's pass
    frozenset({"mixup", "distill"}),  # the teacher would score unmixed inputs
}
# Parameters a technique cannot be built without (the teacher is filled in by the fixture).
PARAMS: dict[str, dict[str, Any]] = {"freeze": {"train": ["*classifier*"]}}


def _params(name: str, teacher: Path) -> dict[str, Any]:
    params = dict(PARAMS.get(name, {}))
    if TECHNIQUES.get(name).needs_teacher:
        params["teacher"] = str(teacher)
    return params


def _shared_kind(*names: str) -> str | None:
    """A task kind every named technique applies to (None: there is none)."""
    for kind in TASK_KINDS:
        if all((TECHNIQUES.get(n).tasks or {kind}) >= {kind} for n in names):
            return kind
    return None


PAIRS = list(combinations(TECHNIQUES.names(), 2))


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_a_pair_is_refused_naming_both_or_builds(first, second, tiny_teacher) -> None:
    kind = _shared_kind(first, second)
    if kind is None:
        pytest.skip(f"{first} and {second} share no task kind")
    if frozenset({first, second}) in CONFLICTS:
        for a, b in ((first, second), (second, first)):  # refused in either order
            spec = {a: _params(a, tiny_teacher), b: _params(b, tiny_teacher)}
            with pytest.raises(ConfigError) as caught:
                check_technique_combination(spec, kind)
            message = str(caught.value)
            assert f"techniques.{a}" in message and f"techniques.{b}" in message
            assert "\n" not in message
            with pytest.raises(ConfigError):  # building refuses them too
                build_techniques(spec)
        return
    spec = {first: _params(first, tiny_teacher), second: _params(second, tiny_teacher)}
    check_technique_combination(spec, kind)
    built = build_techniques(spec)
    assert [type(t) for t in built] == [TECHNIQUES.get(first), TECHNIQUES.get(second)]


def test_every_conflict_names_registered_techniques() -> None:
    # A renamed technique must not leave its conflict untested.
    assert all(pair <= set(TECHNIQUES.names()) for pair in CONFLICTS)


@pytest.mark.parametrize("params", [{}, None, True, {"teacher": ""}])
def test_a_teacher_technique_without_a_teacher_is_refused(params) -> None:
    teachers = [n for n in TECHNIQUES.names() if TECHNIQUES.get(n).needs_teacher]
    assert teachers == ["distill"]
    with pytest.raises(ConfigError, match=r"techniques.distill needs a teacher.*teacher to"):
        check_technique_combination({"distill": params}, "classify")


def test_a_technique_unfit_for_the_task_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"techniques\.distill does not apply to ner runs"):
        check_technique_combination({"distill": {"teacher": "runs/x"}}, "ner")
    check_technique_combination({"mixup": {}}, None)  # no task kind: only the pair checks


def test_an_unknown_technique_is_refused() -> None:
    with pytest.raises(ConfigError, match="emma"):
        check_technique_combination({"emma": {}}, "classify")
