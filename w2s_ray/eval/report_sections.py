"""A recipe's own part of the run report, registered by recipe name, so report.py names no recipe.

    register_report_section("supervision_mix", build=..., markdown=..., curves=...)

`build(manifest)` returns keys merged into report.json (keys the common report has are kept);
`markdown(report)` the lines appended to report.md; `curves(report)` the (label, acc_by_level) lines
the PNG draws beside the rounds. Every module of w2s_ray.eval is imported before a lookup, so a
recipe's report module registers itself by existing, as recipes (recipes/__init__.py) do.

A recipe whose section is a stage's output tags that stage "report" (stage_tags.py) instead; a
section built here reads the manifest alone, so `w2s report` shows it for a partial run too.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from w2s_ray.manifest import Manifest


def _none(_report: dict) -> list:
    return []


@dataclass(frozen=True)
class ReportSection:
    build: Callable[[Manifest], dict]
    markdown: Callable[[dict], list[str]] = _none
    curves: Callable[[dict], list[tuple[str, dict]]] = _none


REPORT_SECTIONS: dict[str, ReportSection] = {}


def register_report_section(recipe: str, build: Callable[[Manifest], dict],
                            markdown: Callable[[dict], list[str]] = _none,
                            curves: Callable[[dict], list[tuple[str, dict]]] = _none) -> None:
    section = ReportSection(build, markdown, curves)
    if REPORT_SECTIONS.get(recipe, section) != section:
        raise ValueError(f"a report section for recipe {recipe!r} is registered twice: "
                         f"{REPORT_SECTIONS[recipe].build.__module__} and {build.__module__}")
    REPORT_SECTIONS[recipe] = section


def report_section(recipe: str | None) -> ReportSection | None:
    """The section registered for `recipe`, None when it has none (its report is the common one)."""
    import w2s_ray.eval as package

    for module in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        importlib.import_module(module.name)
    return REPORT_SECTIONS.get(recipe)
