"""Run a config: open (or resume) its run directory, then hand it to its recipe.

Every stage goes through the manifest: a resumed run skips what finished and redoes what did not.
"""
from __future__ import annotations

from w2s_ray.config import RunConfig
from w2s_ray.loop.context import open_run
from w2s_ray.manifest import Manifest
from w2s_ray.recipes import w2s_reasoning

RECIPES = {"w2s_reasoning": w2s_reasoning.run}


def run(config: RunConfig) -> Manifest:
    ctx = open_run(config)
    RECIPES[config.recipe](ctx)
    return ctx.manifest
