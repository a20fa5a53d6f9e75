"""The weak teachers a recipe uses: as configured, or first fine-tuned on the weak half's gold.

METHODS.md section 1: "half with gold answers fine-tunes the weak model". The demo's teachers are
built already trained (w2s_ray/models/weak_teacher.py); a real model (e.g. Qwen2.5-0.5B) asks for it
with `sft_on_weak_half: true`, and this stage does the fine-tuning on the run's own weak_train split,
so the teacher never sees the strong half or the test split.
"""
from __future__ import annotations

from w2s_ray.run.context import RunContext
from w2s_ray.select import Selection, gold_sft
from w2s_ray.stages.steps import checkpoint_path, select, train


def prepare_weak_teachers(ctx: RunContext) -> dict[str, str]:
    """{teacher name: model spec or checkpoint path} for every weak teacher of the run."""
    models = {}
    for teacher in ctx.config.weak:
        if not teacher.sft_on_weak_half:
            models[teacher.name] = teacher.model
            continue
        gold = select(ctx, f"weak/{teacher.name}/gold_select", lambda _: weak_half_gold(ctx))
        trained = train(ctx, f"weak/{teacher.name}/train", gold, teacher.model)
        models[teacher.name] = checkpoint_path(trained)
    return models


def weak_half_gold(ctx: RunContext) -> Selection:
    """SFT rows from the gold solutions of weak_train: the weak teacher's own supervision."""
    return gold_sft(ctx.splits["weak_train"])
