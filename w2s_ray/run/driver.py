"""Run a config: open (or resume) its run directory, then hand it to its recipe (recipes/, by name).

Every stage goes through the manifest: a resumed run skips what finished and redoes what did not.
"""
from __future__ import annotations

from w2s_ray.config import RunConfig
from w2s_ray.recipes import recipe
from w2s_ray.run.context import open_run
from w2s_ray.run.manifest import Manifest


def run(config: RunConfig, data: tuple[dict, dict] | None = None) -> Manifest:
    """data: the (splits, stats) of load_splits(config.data) where the caller has read them already."""
    run_recipe = recipe(config.recipe).run  # an unknown name fails before the run directory is touched
    ctx = open_run(config, data)
    try:
        run_recipe(ctx)
    finally:
        ctx.engines.release()
    return ctx.manifest
