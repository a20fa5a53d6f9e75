"""Built-in models (models/built_in.py) are built as stages of the run, seen in the manifest.

`models/<name>/build` records the recipe's hash and the hash of what the build trains on (the
student's pretraining corpus, a weak teacher's gold) as inputs, the built weights' hash as output,
and the build's own report (parameters, steps, seconds, final loss) as metrics. The directory lives
in the model cache, so a second run finds it built and the stage takes a second.
"""
from __future__ import annotations

import json
import sys

from w2s_ray.models.built_in import built_in
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.stage_io import describe_checkpoint

BUILD_REPORTS = ("training.json",)


def build_models(ctx: RunContext) -> None:
    """Build (or find in the cache) every built-in model the config names, weak teachers first."""
    specs = [t.model for t in ctx.config.weak] + [ctx.config.strong.model]
    for spec in dict.fromkeys(specs):
        if built_in(spec) is not None:
            build_model(ctx, spec)


def build_model(ctx: RunContext, name: str) -> str:
    model = built_in(name)
    if model is None:
        raise KeyError(f"{name!r} is not a built-in model")

    def body() -> StageResult:
        print(f"[w2s] models/{name}/build: {model.kind}", file=sys.stderr, flush=True)
        path = model.build(ctx.config.resolved_cache_dir())
        metrics = {"kind": model.kind, "recipe": model.recipe}
        for report in BUILD_REPORTS:
            if (path / report).is_file():
                metrics["build"] = json.loads((path / report).read_text())
        return StageResult(outputs={"model": describe_checkpoint(path)}, metrics=metrics)

    result = run_stage(ctx.manifest, f"models/{name}/build", body, inputs=model.inputs())
    path = str(result.output("model")["path"])
    ctx.register_model(name, path)
    return path
