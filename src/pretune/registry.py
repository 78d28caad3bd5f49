"""Name -> factory registries (optimizers, schedules, tasks, techniques, ...).

An unknown name raises with the closest matches; registering a name twice raises, so two
modules can never silently shadow each other (timm's lesson).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Generic, TypeVar

from pretune.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories with one-line descriptions.

    Example:
        >>> optimizers = Registry("optimizer")
        >>> @optimizers.register("sgd", "plain stochastic gradient descent")
        ... def make_sgd(params, lr): ...
        >>> optimizers.names()
        ['sgd']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[Callable[..., T], str]] = {}

    def register(self, name: str, help: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator adding `factory` under `name`."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = (factory, help or (factory.__doc__ or "").strip().split("\n")[0])
            return factory

        return add

    def get(self, name: str) -> Callable[..., T]:
        """The factory for `name`; ConfigError naming close matches if unknown."""
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.4)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise ConfigError(
                f"unknown {self.kind} '{name}'{hint}; available: {', '.join(self.names())}"
            )
        return self._entries[name][0]

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        """Build the entry `name` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style wildcard, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def describe(self) -> list[tuple[str, str]]:
        """(name, one-line help) for every entry, sorted by name."""
        return [(name, self._entries[name][1]) for name in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries
