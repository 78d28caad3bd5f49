"""Compose a recipe's config schema from the sections it reads.

    FinetuneConfig = compose("finetune", "Fine-tune a text classifier.",
                             task_kind="classify", data=DataConfig, model=ModelConfig,
                             train=narrow(TrainConfig, "FinetuneTrain", drop=()), ...)

Every schema has the run fields (`recipe`, `name`, `output_dir`, `seed`) and only the sections
its recipe reads, so a key the recipe would ignore is an unknown-key error. `narrow` makes a
section without the keys a recipe does not read, or with other defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from pretune.config.sections import Section

__all__ = ["RunBase", "compose", "narrow"]

Validator = Callable[[Any], None]


class RunBase(Section):
    """The fields of every run config; recipe schemas add their sections (`compose`)."""

    # Set by `compose`: the recipe that reads this schema and what it trains (a task kind, or a
    # function of the config for recipes with several objectives).
    RECIPE: ClassVar[str] = ""
    TASK_KIND: ClassVar[Any] = ""
    # Keys this recipe does not take, with what to do instead (said instead of "unknown key").
    KEY_HINTS: ClassVar[dict[str, str]] = {}

    name: str | None = Field(None, description="Run folder name (null: recipe-date-time).")
    output_dir: str = Field("runs", description="Folder that holds run folders.")
    seed: int = Field(0, description="Fixes data split and order, initialisation and dropout.")

    @property
    def task_kind(self) -> str:
        """What this run trains (`techniques.base.TASK_KINDS`)."""
        kind = type(self).TASK_KIND
        return kind(self) if callable(kind) else kind


def _as_field(part: Any) -> tuple[Any, Any]:
    if isinstance(part, type) and issubclass(part, BaseModel):
        return part, Field(default_factory=part)
    return part  # already (annotation, FieldInfo)


def _recipe_field(recipe: str) -> tuple[Any, Any]:
    def check(value: str) -> str:
        if value != recipe:
            raise ValueError(
                f"this config is for `pretune {value}`, not `pretune {recipe}`; run it with "
                f"`pretune {value} FILE`, or drop the recipe key"
            )
        return value

    from typing import Annotated

    from pydantic import AfterValidator

    annotation = Annotated[str, AfterValidator(check)]
    return annotation, Field(recipe, description="The recipe this config is for.")


def compose(
    recipe: str,
    doc: str,
    *,
    task_kind: str | Callable[[Any], str],
    validators: Sequence[Validator] = (),
    top_level: type[Section] | None = None,
    hints: dict[str, str] | None = None,
    **parts: Any,
) -> type[RunBase]:
    """A run config class with the run fields and `parts` (a Section class, whose defaults are
    used, or an `(annotation, Field(...))` pair for a top-level value such as `objective`).

    `top_level`: a Section whose fields (and validators) sit at the top of the config, not
    under a key (`pretune fewshot shots=8`). `validators` are functions of the whole config,
    run after every section is valid; they raise ValueError with a message naming the keys.
    `hints`: dotted keys the recipe does not take -> what to do instead.
    """
    fields = {"recipe": _recipe_field(recipe)}
    checks = {}
    if top_level is not None:
        fields.update(_fields_of(top_level))
        checks.update(_validators_of(top_level))
    fields.update({key: _as_field(part) for key, part in parts.items()})
    checks.update(
        {
            f"_check_{i}": model_validator(mode="after")(_returning_self(check))
            for i, check in enumerate(validators)
        }
    )
    schema = create_model(  # type: ignore[call-overload]
        f"{recipe.title().replace('-', '')}Config",
        __base__=RunBase,
        __doc__=doc,
        __validators__=checks,
        **fields,
    )
    schema.RECIPE = recipe
    schema.TASK_KIND = task_kind
    schema.KEY_HINTS = dict(hints or {})
    return schema


def _returning_self(check: Validator) -> Callable[[Any], Any]:
    def validate(self: Any) -> Any:
        check(self)
        return self

    validate.__name__ = getattr(check, "__name__", "check")
    return validate


def _fields_of(section: type[Section]) -> dict[str, tuple[Any, Any]]:
    return {key: (info.annotation, copy.copy(info)) for key, info in section.model_fields.items()}


def _validators_of(section: type[Section]) -> dict[str, Any]:
    """The model and field validators of `section`, to attach to another model."""
    found = section.__pydantic_decorators__
    validators: dict[str, Any] = {
        key: model_validator(mode=d.info.mode)(d.func) for key, d in found.model_validators.items()
    }
    for key, d in found.field_validators.items():
        function = classmethod(getattr(d.func, "__func__", d.func))  # field validators: (cls, v)
        validators[key] = field_validator(*d.info.fields, mode=d.info.mode)(function)
    return validators


def narrow(
    section: type[Section],
    name: str,
    *,
    drop: Sequence[str] = (),
    defaults: dict[str, Any] | None = None,
    replace: dict[str, tuple[Any, Any]] | None = None,
    doc: str | None = None,
) -> type[Section]:
    """A copy of `section` without the keys in `drop`, with other `defaults`, and with some
    fields replaced (`replace`: name -> (annotation, Field(...))). The section's own
    validators come along; they must read keys that may be dropped with getattr."""
    unknown = (set(drop) | set(defaults or {})) - set(section.model_fields)
    assert not unknown, f"narrow({section.__name__}): no fields {sorted(unknown)}"
    fields: dict[str, Any] = {}
    for key, info in _fields_of(section).items():
        if key in drop:
            continue
        if replace and key in replace:
            fields[key] = replace[key]
            continue
        annotation, info = info
        if defaults and key in defaults:
            info.default, info.default_factory = defaults[key], None
        fields[key] = (annotation, info)
    return create_model(  # type: ignore[call-overload]
        name,
        __base__=Section,
        __doc__=doc or section.__doc__,
        __validators__=_validators_of(section),
        **fields,
    )
