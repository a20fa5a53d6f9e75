"""Weak-to-Strong Reasoning (Yang et al. 2024; METHODS.md section 1), top to bottom.

  weak teachers (fine-tuned on the weak half's gold first, where configured) answer the strong
           half's questions greedily (once; they do not change)
  baselines: weak, strong base (zero- and k-shot), ceiling (gold SFT), full weak FT (take-all SFT)
  Stage I, round k: the current student answers k-shot (demos: weak outputs, right or wrong; one
           fixed set, loop.demos) -> consistency filter against the weak side -> SFT -> evaluate;
           round k+1 generates with round k's student, which also answers zero-shot as the new weak
           side (loop.weak_side "student", the authors'; "weak_teacher" keeps the teachers' answers)
  Stage II: the Stage-I student samples each question n times at temperature T -> majority vote
           -> preference pairs against the weak solutions -> DPO (or ORPO) -> evaluate

No gold answer of the strong half reaches a selection or a training stage of Stage I or II (the
ceiling baseline is the only reader of that gold; tests/test_gold_leak.py holds it to that).
Built-in models (the testbed's pretrained student, the weak teachers) are built first, each as a
stage. Every stage goes through the manifest: a resumed run skips what finished and redoes what did not.
"""
from __future__ import annotations

from w2s_ray.recipes.w2s_reasoning.baselines import run_baselines, weak_baseline
from w2s_ray.recipes.w2s_reasoning.demos import stage_demos
from w2s_ray.recipes.w2s_reasoning.report import STAGE2
from w2s_ray.recipes.w2s_reasoning.weak_teachers import prepare_weak_teachers
from w2s_ray.run.context import RunContext
from w2s_ray.run.model_builds import build_models
from w2s_ray.run.stage_tags import Tag
from w2s_ray.serve.promotion import promote_latest
from w2s_ray.stages.select_data import consistency_data, preference_data, select_data, take_all_data
from w2s_ray.stages.steps import Model, generate_and_score, train


def run(ctx: RunContext) -> None:
    cfg = ctx.config
    strong_train = ctx.rows("strong_train")  # questions only
    build_models(ctx)  # built-in teachers and student (the testbed's pretraining), as stages

    weak_models = prepare_weak_teachers(ctx)  # as configured, or SFT on the weak half's gold first
    weak_results = {}
    for t in cfg.weak:
        weak_results[t.name] = generate_and_score(ctx, f"weak/{t.name}/generate", t, weak_models[t.name], strong_train)
        weak_baseline(ctx, t, weak_models[t.name])  # now, while its engines are up
    # The strong model's demos are weak outputs on the same questions, right or wrong (METHODS 1.2).
    demo_pool, demo_stages = stage_demos(ctx, weak_results)

    run_baselines(ctx, weak_results)

    # Stage I: progressive refinement.
    student = cfg.strong.model  # then each round's training stage
    for k in range(1, cfg.loop.rounds + 1):
        teacher = cfg.strong.model_copy(update={"name": f"strong-round-{k}"})
        strong = generate_and_score(ctx, f"round_{k}/generate_strong", teacher, student, strong_train,
                                    demo_pool, upstream=demo_stages)
        side = weak_side(ctx, k, student, strong_train, weak_results)
        # The selections run in Ray Data's workers (a map; a join on problem_id): no row passes the driver.
        selector = (lambda data: take_all_data(data.joined(side))) if cfg.loop.selection == "take_all" else \
            (lambda data: consistency_data(data.joined(side), data["strong"]))
        label = f"round {k}"  # the tags that make this a round of the report and a student to serve
        selection = select_data(ctx, f"round_{k}/select", selector, upstream={**side, "strong": strong},
                                tag=Tag("select", label, round=k))
        base = cfg.strong.model if cfg.loop.train_from == "base" else student
        student = train(ctx, f"round_{k}/train", selection, base, tag=Tag("train", label, round=k))
        generate_and_score(ctx, f"round_{k}/eval", ctx.eval_teacher(cfg.strong, f"student-round-{k}"),
                           student, ctx.rows("test"), tag=Tag("student_eval", label, round=k))
        promote_latest(ctx.run_dir)  # RUN_DIR/serve/latest.json -> this round's student (w2s serve)

    # Stage II: the student's own confidence decides where it overrules the weak teachers.
    s2 = cfg.stage2
    if s2 is None:
        return
    sampler = cfg.strong.model_copy(update={
        "name": "stage2-sampler", "shots": s2.shots, "n": s2.n, "temperature": s2.temperature, "seed": s2.seed,
        "max_tokens": s2.max_tokens or cfg.strong.max_tokens})
    asked = strong_train[:s2.questions]
    samples = generate_and_score(ctx, "stage2/sample", sampler, student, asked,
                                 demo_pool if s2.shots else None,
                                 upstream=demo_stages if s2.shots else weak_results)
    # The weak solutions of the asked questions only: the pairs are the same, but the count reads
    # "kept k of (questions x teachers)", not of every weak solution with `student_missing` for the rest.
    # A group-by on problem_id over the student's samples and the weak solutions, in Ray Data's workers.
    asked_ids = sorted(p["id"] for p in asked)
    pairs = select_data(ctx, "stage2/pairs",
                        lambda data: preference_data(data["samples"], data.joined(weak_results).problems(asked_ids),
                                                     min_confidence=s2.min_confidence,
                                                     flip_confidence=s2.flip_confidence, seed=s2.seed,
                                                     max_pairs=s2.max_pairs),
                        upstream={**weak_results, "samples": samples}, tag=Tag("select", STAGE2))
    trained = train(ctx, "stage2/train", pairs, student, s2.train_config(cfg.train), tag=Tag("train", STAGE2))
    generate_and_score(ctx, "stage2/eval", ctx.eval_teacher(cfg.strong, "student-stage2"), trained,
                       ctx.rows("test"), tag=Tag("student_eval", STAGE2))
    promote_latest(ctx.run_dir)  # the final student: served as RUN-stage2


def weak_side(ctx: RunContext, k: int, student: Model, strong_train, weak_results: dict) -> dict:
    """The stages of round k's zero-shot side, by the names the round's selection reads them under.
    Round 1, or loop.weak_side "weak_teacher": the weak teachers' answers. Later rounds by default
    (the authors'): the round-(k-1) student, zero-shot on the same questions, stands where the weak
    teacher stood."""
    cfg = ctx.config
    if k == 1 or cfg.loop.weak_side == "weak_teacher":
        return weak_results
    zero_shot = cfg.strong.model_copy(update={"name": f"student-round-{k - 1}-zero-shot", "shots": 0, "role": "weak"})
    return {"weak_side": generate_and_score(ctx, f"round_{k}/generate_weak_side", zero_shot, student, strong_train)}
