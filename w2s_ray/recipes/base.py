"""The Recipe contract: what one method is to the rest of the system.

A recipe is a folder `w2s_ray/recipes/<name>/`, found by existing (the folder's name is the name
configs give as `recipe:`):

  config.py  (optional; imported without the rest, to validate a config)
    SECTIONS = {"stage2": Stage2Config}     the RunConfig fields it owns (each optional in YAML)
    def check(config) -> None               rules over the whole config; raise ValueError
    HASHED_UNSET = {"stage2"}               sections that, unset, hash as null (others: as absent)
    def plan_asks(config, asks) -> [Ask]    what its own stages ask of a cluster (`w2s plan`)
  recipe.py
    def run(ctx: RunContext) -> None        the method, top to bottom
  report.py  (optional; read from the manifest alone, so `w2s report` shows it for a partial run)
    def build(manifest, common) -> dict     keys merged into report.json (the common ones are kept)
    def markdown(report) -> list[str]       lines after the common table of report.md
    def rows(report) -> [(name, row)]       rows of its students in that table
    def curves(report) -> [(label, acc_by_level)]   lines in the PNG

Everything else the method owns (its stages, selections, report code) lives beside these files.
A recipe outside the package registers a `Recipe` with `register_recipe` (its config has no section).
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

PACKAGE = "w2s_ray.recipes"


def _none(*_args) -> list:
    return []


@dataclass(frozen=True)
class RecipeConfig:
    """The part of a recipe a config needs: light, imported before anything heavy."""

    sections: Mapping[str, type] = field(default_factory=dict)
    check: Callable[[Any], None] | None = None
    hashed_unset: frozenset[str] = frozenset()
    plan_asks: Callable[[Any, Any], list] = _none


def _nothing(_manifest, _common) -> dict:
    return {}


@dataclass(frozen=True)
class RecipeReport:
    """The part of a recipe the report needs: read from the manifest, without the recipe's stages."""

    build: Callable[[Any, dict], dict] = _nothing
    markdown: Callable[[dict], list[str]] = _none
    rows: Callable[[dict], list[tuple[str, dict]]] = _none
    curves: Callable[[dict], list[tuple[str, dict]]] = _none
    # report.png's panels beside the accuracy-by-level one: functions drawing into a matplotlib Axes
    panels: Callable[[dict], list[Callable]] = _none


@dataclass(frozen=True)
class Recipe:
    name: str
    run: Callable[[Any], None]
    config: RecipeConfig = field(default_factory=RecipeConfig)
    report: RecipeReport = field(default_factory=RecipeReport)


_REGISTERED: dict[str, Recipe] = {}  # recipes from outside the package
_CONFIGS: dict[str, RecipeConfig] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.name in folder_names():
        raise ValueError(f"recipe {recipe.name!r} is a folder of {PACKAGE} already")
    if recipe.config.sections:
        raise ValueError(f"recipe {recipe.name!r}: config sections need a recipe folder (RunConfig is built from them)")
    _REGISTERED[recipe.name] = recipe
    return recipe


def folder_names() -> list[str]:
    package = importlib.import_module(PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg)


def recipe_names() -> list[str]:
    return sorted({*folder_names(), *_REGISTERED})


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:  # the module exists and something it imports does not
            raise
        return None


def recipe_config(name: str) -> RecipeConfig:
    """The config part of recipe `name` (its config.py), without importing its stages."""
    if name in _REGISTERED:
        return _REGISTERED[name].config
    if name not in _CONFIGS:
        module = _optional(f"{PACKAGE}.{name}.config")
        _CONFIGS[name] = RecipeConfig(
            sections=dict(getattr(module, "SECTIONS", {})), check=getattr(module, "check", None),
            hashed_unset=frozenset(getattr(module, "HASHED_UNSET", ())), plan_asks=getattr(module, "plan_asks", _none))
    return _CONFIGS[name]


def all_recipe_configs() -> dict[str, RecipeConfig]:
    return {name: recipe_config(name) for name in recipe_names()}


def recipe(name: str) -> Recipe:
    """Recipe `name`: its run, config part and report part."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in folder_names():
        raise KeyError(f"no recipe {name!r}; known: {', '.join(recipe_names())}")
    run = importlib.import_module(f"{PACKAGE}.{name}.recipe").run
    return Recipe(name, run, recipe_config(name), recipe_report(name))


def recipe_report(name: str | None) -> RecipeReport:
    """The report part of recipe `name` (its report.py); empty for a recipe without one, or one
    this installation does not know (a run directory from elsewhere still gets the common report)."""
    if name in _REGISTERED:
        return _REGISTERED[name].report
    if name not in folder_names():
        return RecipeReport()
    module = _optional(f"{PACKAGE}.{name}.report")
    return RecipeReport(**{attr: getattr(module, attr) for attr in ("build", "markdown", "rows", "curves", "panels")
                           if hasattr(module, attr)})
