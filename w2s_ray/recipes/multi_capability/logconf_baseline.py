"""The confidence-loss baseline of the multi_capability recipe (config `logconf: true`; Burns et al.,
METHODS.md 7): on the choice capabilities only, the strong model trained on the weak teachers' labels
with `logconf` (the hardened share ramping to aux_coef), and its pair, the same rows with aux_coef 0
(plain cross-entropy toward the weak label over the options). Both are evaluated over the options
(score/option_choice.py) on the choice capabilities' test problems; the report pairs them per problem.
"""
from __future__ import annotations

from w2s_ray.recipes.multi_capability import data as mc_data
from w2s_ray.recipes.multi_capability.choice_rows import MARKS, choice_prompt, is_choice, options, weak_choice_rows
from w2s_ray.recipes.multi_capability.keys import LOGCONF, PLAIN_CE
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.run.stage_tags import Tag
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.stages.steps import Model, checkpoint_of, model_name, select, train
from w2s_ray.train.config import ConfidenceSettings


def eval_rows(problems: list[dict], name: str) -> list[dict]:
    """The choice capabilities' test problems as rows the option scorer reads and accuracy counts."""
    return [{"problem_id": p["id"], "model": name, "question": p["question"], "gold": p.get("gold"),
             "has_gold": p.get("gold") is not None, "level": p.get("level"), "capability": mc_data.capability_of(p),
             "sample_index": 0, **_choice_columns(mc_data.capability_of(p), p["question"])}
            for p in problems if is_choice(mc_data.capability_of(p))]


def _choice_columns(capability: str, question: str) -> dict:
    """What the option scorer reads: the prompt whose next token is the option, the options, the marker."""
    return {"prompt": choice_prompt(capability, question), "options": list(options(capability, question)),
            "mark": MARKS[capability]}


def option_eval(ctx: RunContext, key: str, name: str, model: Model, tag: Tag, settings: dict) -> StageResult:
    """`model` scored over the options of every choice test problem (one scorer actor pool, as rm/score)."""
    import ray

    from w2s_ray.eval.accuracy import accuracy_by_model
    from w2s_ray.run.progress import Progress, iter_rows
    from w2s_ray.score.stage import score_dataset

    path = ctx.model_path(model_name(model))

    def body() -> StageResult:
        rows = eval_rows(ctx.rows("test"), name)
        spec = ScorerSpec(name="option_choice", num_gpus=1.0 if ctx.device == "gpu" else 0.0,
                          config={"model_path": path})
        ds = score_dataset(ray.data.from_items(rows), [spec])
        out = sorted(iter_rows(ds, Progress(f"score {key}", len(rows))), key=lambda r: str(r["problem_id"]))
        metrics = {}
        if (acc := accuracy_by_model(out).get(name)) is not None:
            metrics["accuracy"] = acc
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir(key), out)}, rows_in=len(rows),
                           rows_out=len(out), metrics=metrics)

    return run_stage(ctx.manifest, key, body, inputs={"model": model_name(model), **settings},
                     upstream=checkpoint_of(model), tag=tag)


def logconf_baseline(ctx: RunContext, weak_results: dict[str, StageResult], problems: dict) -> None:
    """Rows from every weak teacher's answers to the choice capabilities, logconf and plain CE on them."""
    from transformers import AutoTokenizer

    cfg = ctx.config
    tokenizer = AutoTokenizer.from_pretrained(ctx.model_path(model_name(cfg.strong.model)))
    rows = select(ctx, "logconf/select",
                  lambda up: weak_choice_rows(up.joined(weak_results), lambda s: tokenizer(s)["input_ids"],
                                              lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]),
                  upstream=weak_results, settings={"tokenizer": model_name(cfg.strong.model)})
    base = cfg.train.confidence or ConfidenceSettings()
    for label, key, aux in ((LOGCONF, "logconf", base.aux_coef), (PLAIN_CE, "plain_ce", 0.0)):
        config = cfg.train.model_copy(update={"objective": "logconf",
                                              "confidence": base.model_copy(update={"aux_coef": aux})})
        student = train(ctx, f"{key}/train", rows, cfg.strong.model, config, tag=Tag("train", label))
        option_eval(ctx, f"{key}/eval", label.replace(" ", "-"), student, Tag("student_eval", label), problems)
