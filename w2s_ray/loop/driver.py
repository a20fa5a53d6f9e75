"""The progressive weak-to-strong loop, top to bottom (METHODS.md section 1, Stage I; Burns et al.
for the full-weak-fine-tuning baseline):

  weak teachers answer the strong half's questions (once; they do not change)
  baselines: weak, strong base (zero- and k-shot), ceiling (gold SFT), full weak FT (take-all SFT)
  round k: the current strong model answers k-shot (demos: weak outputs) -> consistency filter
           -> SFT -> evaluate the student; round k+1 generates with round k's student

Every stage goes through the manifest: a resumed run skips what finished and redoes what did not.
"""
from __future__ import annotations

from w2s_ray.config import RunConfig
from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.generate.prompts import zero_shot
from w2s_ray.loop.context import RunContext, open_run
from w2s_ray.loop.steps import checkpoint_path, generate_and_score, select, stage_rows, train
from w2s_ray.manifest import Manifest
from w2s_ray.select import Selection, consistency_filter, take_all


def run(config: RunConfig) -> Manifest:
    ctx = open_run(config)
    cfg = config
    strong_train = ctx.rows("strong_train")  # questions only
    test = ctx.rows("test")

    weak_results = {
        t.name: generate_and_score(ctx, f"weak/{t.name}/generate", t, t.model, strong_train)
        for t in cfg.weak
    }
    weak_rows = [r for res in weak_results.values() for r in stage_rows(res)]
    weak_inputs = {name: res.output("rows")["sha256"] for name, res in weak_results.items()}
    # The strong model's demos are weak outputs on the same questions, right or wrong (METHODS 1.2).
    demo_pool = [{"id": r["problem_id"], "question": r["question"], "solution": r["text"]}
                 for r in weak_rows if r["text"].strip() and r["sample_index"] == 0]

    _baselines(ctx, weak_rows, weak_inputs, test)

    student = cfg.strong.model
    for k in range(1, cfg.loop.rounds + 1):
        teacher = cfg.strong.model_copy(update={"name": f"strong-round-{k}"})
        strong = generate_and_score(ctx, f"round_{k}/generate_strong", teacher, student, strong_train,
                                    demo_pool, inputs=weak_inputs)
        selection = select(ctx, f"round_{k}/select", _selector(cfg, weak_rows, stage_rows(strong)),
                           inputs={**weak_inputs, "strong": strong.output("rows")["sha256"]})
        base = cfg.strong.model if cfg.loop.train_from == "base" else student
        trained = train(ctx, f"round_{k}/train", selection, base)
        student = checkpoint_path(trained)
        generate_and_score(ctx, f"round_{k}/eval", ctx.eval_teacher(cfg.strong, f"student-round-{k}"),
                           student, test, inputs={"checkpoint": trained.output("model")["sha256"]})
    return ctx.manifest


def _selector(cfg: RunConfig, weak_rows: list[dict], strong_rows: list[dict]):
    if cfg.loop.selection == "take_all":
        return lambda: take_all(weak_rows)
    return lambda: consistency_filter(weak_rows, strong_rows)


def _baselines(ctx: RunContext, weak_rows: list[dict], weak_inputs: dict, test: list[dict]) -> None:
    cfg, wanted = ctx.config, set(ctx.config.loop.baselines)
    if "weak" in wanted:
        for t in cfg.weak:
            generate_and_score(ctx, f"baselines/weak/{t.name}/eval", ctx.eval_teacher(t, t.name), t.model, test)
    if "strong_base" in wanted:
        generate_and_score(ctx, "baselines/strong_base/eval", ctx.eval_teacher(cfg.strong, "strong-base"),
                           cfg.strong.model, test)
        shots = cfg.eval.strong_base_shots
        if shots:
            pool = ctx.rows("weak_train")[: cfg.data.n_demos]
            name = f"strong-base-{shots}-shot"
            generate_and_score(ctx, "baselines/strong_base_few_shot/eval",
                               ctx.eval_teacher(cfg.strong, name, shots), cfg.strong.model, test, pool)
    if "ceiling" in wanted:
        gold = select(ctx, "baselines/ceiling/select", lambda: _gold_selection(cfg), inputs={})
        _train_and_eval(ctx, "ceiling", gold)
    if "full_weak_ft" in wanted:
        rows = select(ctx, "baselines/full_weak_ft/select", lambda: take_all(weak_rows), inputs=weak_inputs)
        _train_and_eval(ctx, "full_weak_ft", rows)


def _train_and_eval(ctx: RunContext, name: str, selection) -> None:
    trained = train(ctx, f"baselines/{name}/train", selection, ctx.config.strong.model)
    generate_and_score(ctx, f"baselines/{name}/eval", ctx.eval_teacher(ctx.config.strong, name.replace("_", "-")),
                       checkpoint_path(trained), ctx.rows("test"),
                       inputs={"checkpoint": trained.output("model")["sha256"]})


def _gold_selection(cfg: RunConfig) -> Selection:
    """The ceiling's training set: gold solutions of the strong half (the only use of that gold)."""
    problems = strong_train_with_gold(cfg.data)
    rows = [{"problem_id": p.id, "prompt": zero_shot(p.question), "completion": " " + p.solution.strip(),
             "source_model": "gold", "role": "gold", "sample_index": 0, "level": p.level, "answer": p.gold}
            for p in problems if p.solution]
    return Selection(rows=rows, n_in=len(problems), kept=len(rows),
                     dropped={"no_gold_solution": len(problems) - len(rows)} if len(rows) < len(problems) else {})
