"""LightReasoner (2025; METHODS.md section 2), top to bottom, with its rejection-sampling SFT baseline.

  the expert (the run's `strong` model) answers N questions of strong_train (<= 128 new tokens; in
           its chat template with the authors' system prompt and no stop where it has one: sampling.py)
  contrast: teacher-forced forward passes of the expert and of the amateur (the first `weak`
           teacher; the same tokenizer) over each solution -> KL(pi_E || pi_A) per step, V_t
  select:  steps with KL >= beta (or the top keep_fraction by KL) -> soft targets softmax_{V_t}(log pi_E - log pi_A)
  train:   the expert, LoRA on q/v, KL(v || student) at each kept step's prefix
  eval:    the base expert and the trained one, greedy on the test split
  baseline, on the same samples: rejection-sampling SFT (the expert's right answers, by gold) -> eval

The report's `light_reasoner` section (recipes/light_reasoner/report.py) sets the two methods side by
side: problems sampled, tokens generated, tokens trained, wall time per stage, accuracy gain per
trained token. Every stage goes through the manifest: a resumed run skips what finished.
"""
from __future__ import annotations

from w2s_ray.recipes.light_reasoner import keys, sampling
from w2s_ray.recipes.light_reasoner.config import LightReasonerConfig
from w2s_ray.recipes.light_reasoner.data import kl_steps_data, rejection_sampling_data
from w2s_ray.recipes.light_reasoner.stages import contrast, sampled_questions
from w2s_ray.run.context import RunContext
from w2s_ray.run.model_builds import build_models
from w2s_ray.run.stage_tags import Tag
from w2s_ray.score.contrast import check_same_tokenizer
from w2s_ray.serve.promotion import promote_latest
from w2s_ray.stages.select_data import select_data
from w2s_ray.stages.steps import generate_and_score, train


def run(ctx: RunContext) -> None:
    cfg = ctx.config
    lr = cfg.light_reasoner or LightReasonerConfig()
    expert, amateur = cfg.strong, cfg.weak[0]
    test = ctx.rows("test")
    build_models(ctx)  # built-in expert and amateur (the testbed's), as stages
    # Refused before any sampling: a pair with two tokenizers has no contrast to compute.
    check_same_tokenizer(ctx.model_path(expert.model), ctx.model_path(amateur.model), expert.name, amateur.name)

    # The expert samples zero-shot, so the prefixes it is later trained on are the bare question: in
    # its chat template (the authors') where it has one, with the stops of sampling.py.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ctx.model_path(expert.model))
    fmt = sampling.resolve_format(lr.prompt_format, tokenizer)
    expert = sampling.expert_teacher(expert, fmt, lr.stop)
    questions = sampled_questions(ctx, lr.n_questions)
    if fmt == "chat":
        questions, test = (sampling.with_prompts(rows, tokenizer, lr.system_prompt) for rows in (questions, test))
    sampler = expert.model_copy(update={"name": "expert", "n": lr.samples,
                                        "temperature": lr.temperature, "max_tokens": lr.max_tokens})
    samples = generate_and_score(ctx, keys.SAMPLE, sampler, expert.model, questions)

    generate_and_score(ctx, keys.BASE_EVAL, ctx.eval_teacher(expert, "strong-base"), expert.model,
                       test, tag=Tag("baseline", "strong_base"))

    # LightReasoner: contrast, keep the steps where the two disagree most, train toward the contrast.
    scored = contrast(ctx, keys.CONTRAST, samples, expert.model, amateur.model,
                      (expert.name, amateur.name), lr)
    # Each solution's steps kept on their own KL: a map in Ray Data's workers (light_reasoner/data.py).
    steps = select_data(ctx, keys.SELECT, lambda data: kl_steps_data(data["contrast"], lr.beta, lr.keep_fraction,
                                                                     lr.first_step, lr.epsilon),
                        upstream={"contrast": scored}, tag=Tag("select", "light_reasoner"))
    trained = train(ctx, keys.TRAIN, steps, expert.model, lr.kl_train_config(cfg.train),
                    tag=Tag("train", "light_reasoner"))
    generate_and_score(ctx, keys.EVAL, ctx.eval_teacher(expert, "light-reasoner"), trained, test,
                       tag=Tag("student_eval", "light_reasoner"))
    promote_latest(ctx.run_dir)  # RUN_DIR/serve/latest.json -> the LightReasoner student (w2s serve)

    # Baseline: rejection-sampling SFT on the same samples (gold decides which are right).
    right = select_data(ctx, keys.RS_SELECT, lambda data: rejection_sampling_data(data["samples"], fmt == "chat"),
                        upstream={"samples": samples}, tag=Tag("select", "rs_sft"))
    sft = train(ctx, keys.RS_TRAIN, right, expert.model, lr.rs_sft_train_config(cfg.train), tag=Tag("train", "rs_sft"))
    generate_and_score(ctx, keys.RS_EVAL, ctx.eval_teacher(expert, "rs-sft"), sft, test, tag=Tag("baseline", "rs_sft"))
