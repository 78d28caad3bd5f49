"""Name -> factory registries."""

from __future__ import annotations

import pytest

from pretune.errors import ConfigError
from pretune.registry import Registry


@pytest.fixture
def reg() -> Registry[tuple]:
    registry: Registry[tuple] = Registry("widget")

    @registry.register("adam", "the adam widget")
    def make_adam(x: int, scale: int = 1) -> tuple:
        return ("adam", x * scale)

    @registry.register("adamw")
    def make_adamw(x: int) -> tuple:
        """Adam with decay.

        More details that must not be shown.
        """
        return ("adamw", x)

    @registry.register("sgd", "plain")
    def make_sgd() -> tuple:
        return ("sgd",)

    return registry


def test_create_passes_arguments(reg: Registry[tuple]) -> None:
    assert reg.create("adam", 3) == ("adam", 3)
    assert reg.create("adam", 3, scale=2) == ("adam", 6)
    assert reg.create("sgd") == ("sgd",)


def test_register_returns_the_factory_unchanged() -> None:
    registry: Registry[int] = Registry("thing")

    def factory() -> int:
        return 42

    assert registry.register("x")(factory) is factory
    assert registry.get("x") is factory


def test_names_sorted_and_wildcard(reg: Registry[tuple]) -> None:
    assert reg.names() == ["adam", "adamw", "sgd"]
    assert reg.names("ad*") == ["adam", "adamw"]
    assert reg.names("*w") == ["adamw"]
    assert reg.names("s?d") == ["sgd"]
    assert reg.names("nothing*") == []


def test_describe_uses_help_or_first_docstring_line(reg: Registry[tuple]) -> None:
    assert reg.describe() == [
        ("adam", "the adam widget"),
        ("adamw", "Adam with decay."),
        ("sgd", "plain"),
    ]


def test_contains(reg: Registry[tuple]) -> None:
    assert "adam" in reg
    assert "adagrad" not in reg


def test_unknown_name_suggests_close_match(reg: Registry[tuple]) -> None:
    with pytest.raises(ConfigError) as info:
        reg.create("adamx", 1)
    message = str(info.value)
    assert "unknown widget 'adamx'" in message
    assert "did you mean" in message
    assert "'adam'" in message
    assert "available: adam, adamw, sgd" in message


def test_unknown_name_without_close_match(reg: Registry[tuple]) -> None:
    with pytest.raises(ConfigError) as info:
        reg.get("zzzzzz")
    assert "did you mean" not in str(info.value)
    assert "available: adam, adamw, sgd" in str(info.value)


def test_double_registration_raises(reg: Registry[tuple]) -> None:
    with pytest.raises(ValueError, match="widget 'sgd' is registered twice"):
        reg.register("sgd")(lambda: ("other",))
    assert reg.create("sgd") == ("sgd",)  # the first one is kept


def test_registries_are_independent() -> None:
    a: Registry[int] = Registry("a")
    b: Registry[int] = Registry("b")
    a.register("x")(lambda: 1)
    b.register("x")(lambda: 2)
    assert a.create("x") == 1
    assert b.create("x") == 2
