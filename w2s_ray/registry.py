"""One registry: named parts that register themselves by existing in a package.

Scorers, training objectives and recipes are each a Registry. A lookup first imports every module of
the registry's packages, so a new part is one new module (or folder) there: no list elsewhere names
it. Registering the same thing twice (a module imported again by a Ray worker) is harmless; two
different things under one name are an error naming both.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def import_all(package: str) -> None:
    """Import every module below `package` (subpackages included)."""
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        importlib.import_module(module.name)


def _origin(value) -> str:
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"


class Registry(Generic[T]):
    """Name -> part. `origin(part)` names where a part was defined: a second registration from the
    same origin is the first one again."""

    def __init__(self, kind: str, packages: tuple[str, ...], *, error: type[Exception] = KeyError,
                 origin: Callable[[T], str] = _origin):
        self.kind, self.packages, self.error, self.origin = kind, packages, error, origin
        self.parts: dict[str, T] = {}
        self._loaded = False

    def add(self, name: str, part: T) -> T:
        existing = self.parts.get(name)
        if existing is not None and existing is not part and self.origin(existing) != self.origin(part):
            raise ValueError(f"{self.kind} {name!r} is already registered, by {self.origin(existing)}; "
                             f"now again by {self.origin(part)}")
        self.parts[name] = part
        return part

    def load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first: a module being imported may look itself up
            for package in self.packages:
                import_all(package)

    def names(self) -> list[str]:
        self.load()
        return sorted(self.parts)

    def get(self, name: str) -> T:
        self.load()
        if name not in self.parts:
            raise self.error(f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(sorted(self.parts)) or 'none'}")
        return self.parts[name]
