"""Recipes: one file per method of METHODS.md, each composing the stages (w2s_ray/stages/) top to
bottom, and the registry they add themselves to:

    @register("w2s_reasoning")
    def run(ctx: RunContext) -> None: ...

`recipe(name)` imports every module of this package first, so a new recipe file registers itself by
existing: no list elsewhere names it.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

RECIPES: dict[str, Callable] = {}


def register(name: str) -> Callable[[Callable], Callable]:
    """Add a recipe (a function of a stages.context.RunContext) under the name configs use."""
    def add(fn: Callable) -> Callable:
        if RECIPES.get(name, fn) is not fn:
            raise ValueError(f"recipe {name!r} is registered twice: {RECIPES[name].__module__} and {fn.__module__}")
        RECIPES[name] = fn
        return fn

    return add


def recipe(name: str) -> Callable:
    """The recipe registered as `name`, after importing every recipe module so each registers."""
    for module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        importlib.import_module(module.name)
    if name not in RECIPES:
        raise KeyError(f"no recipe {name!r}; registered: {sorted(RECIPES)}")
    return RECIPES[name]
