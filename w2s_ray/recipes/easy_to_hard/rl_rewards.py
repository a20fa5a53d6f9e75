"""The pure parts of the RL stage (rl.py): rollouts and their rewards -> GRPO rows, and the outcome
RM's training pairs.

A rollout's reward, by source (rl_config.RewardSource):
  prm, process   each step's PRM score (`step_scores`): DeepSeekMath's process supervision
                 (select/advantages.process_advantages), the step ending at its last token
  prm, outcome   the recipe's aggregate of those scores (`prm_min` ...), one per sample
  orm            the outcome RM's `reward`, one per sample
  gold           1 when the answer is right by gold (`correct`), else 0: the upper bound only
  scorer         the rl.scorer's column, one per sample
A sample the PRM could not score (no step, or a step past the scorer's max_length: NaN) gets the lowest
reward a PRM gives, 0, at the same place (a step with no score, or one step ending at its last token):
unscored text is never neutral, or the policy would learn to write none.

The prm and orm rewards read only the rows' text, their model's scores and where they came from,
never `gold`, `correct` or `has_gold` (tests/test_e2h_rl.py feeds rows whose gold fields raise on
access); their rollouts are of problems whose gold was removed before generation (`without_gold`).
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

from w2s_ray.generate.finish import NO_TOKEN
from w2s_ray.select import Selection
from w2s_ray.select.advantages import outcome_advantages, process_advantages, token_ends_from_char_ends
from w2s_ray.text.reward_format import outcome_rm_pair
from w2s_ray.text.steps import answer_step, solution_steps

_BLANK_LINE_RE = re.compile(r"\n\s*\n")  # text/steps.py's split, with positions
GOLD_FIELDS = ("gold", "solution")


def without_gold(problem: dict) -> dict:
    """A problem row as the RL rollouts of the learned rewards see it: no gold answer, no gold solution."""
    return {**problem, **{field: None for field in GOLD_FIELDS}}


def step_char_ends(text: str, step_sep: str, with_answer: bool) -> list[int]:
    """Each step's end character (exclusive) in `text`, in text/steps.solution_steps' order and count
    (the PRM's `step_scores` order): the stripped part's last character + 1."""
    body = (text or "").split("####", 1)[0]
    if step_sep == "blank_line":
        cuts = [(m.start(), m.end()) for m in _BLANK_LINE_RE.finditer(body)]
    else:
        cuts = [(m.start(), m.end()) for m in re.finditer("\n", body)]
    ends, start = [], 0
    for cut_start, cut_end in [*cuts, (len(body), len(body))]:
        part = body[start:cut_start]
        if part.strip():
            ends.append(start + len(part.rstrip()))
        start = cut_end
    if with_answer and ends and answer_step(text) is not None:
        at = text.index("####") + 4
        rest = text[at:]
        line_start = at + len(rest) - len(rest.lstrip())
        ends.append(line_start + len(text[line_start:].split("\n", 1)[0].rstrip()))
    expected = len(solution_steps(text, step_sep, with_answer))
    if len(ends) != expected:  # a change to text/steps.py must change this split too
        raise AssertionError(f"step_char_ends found {len(ends)} steps, solution_steps {expected}, in {text!r:.200}")
    return ends


def ends_eos(row: dict) -> bool:
    """The sample ended on a token (EOS or a stop token): the trainer appends EOS (train/grpo.py)."""
    return row.get("finish_reason") == "stop" and int(row.get("stop_token_id", NO_TOKEN)) != NO_TOKEN


def _score(value) -> float:
    value = float(value) if value is not None else math.nan
    return 0.0 if math.isnan(value) else value


def outcome_reward(row: dict, reward: str, aggregate: str, column: str | None = None) -> float:
    if reward == "gold":
        return float(bool(row["correct"]))
    if reward == "scorer":
        return _score(row[column])
    return _score(row["reward"] if reward == "orm" else row[aggregate])


def token_layout(tokenizer, completion: str, eos: bool, char_ends: Sequence[int]) -> tuple[list[int], int]:
    """(last token of each step, the completion's token count) as the GRPO trainer tokenizes it: the
    completion alone, no special tokens, EOS appended when it ended on one."""
    if char_ends and not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"process supervision maps steps to tokens by the tokenizer's offsets, which "
                         f"{type(tokenizer).__name__} (a slow tokenizer) does not give; use a model with "
                         "tokenizer.json, or rl.prm_supervision: outcome")
    encoded = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    offsets = [tuple(o) for o in encoded["offset_mapping"]]
    return (token_ends_from_char_ends(offsets, char_ends) if char_ends else []), len(offsets) + int(eos)


def process_rewards(row: dict, tokenizer, step_sep: str, with_answer: bool) -> tuple[list[float], list[int], int]:
    """(step rewards, their last tokens, n tokens) of one PRM-scored rollout. Steps that end in the
    same token (a token spanning two steps' boundary) keep the later step's reward."""
    text, eos = row["text"], ends_eos(row)
    scores = [_score(s) for s in list(row["step_scores"] if row["step_scores"] is not None else [])]
    char_ends = step_char_ends(text, step_sep, with_answer) if scores else []
    if len(char_ends) != len(scores):
        raise ValueError(f"rollout {row['problem_id']}#{row['sample_index']}: {len(scores)} step scores for "
                         f"{len(char_ends)} steps (the PRM's step_sep / answer_step differ from the recipe's?)")
    ends, n = token_layout(tokenizer, text, eos, char_ends)
    if not scores:
        return [0.0], [n - 1], n
    kept_rewards, kept_ends = [], []
    for score, end in zip(scores, ends):
        if kept_ends and kept_ends[-1] == end:
            kept_rewards[-1] = score
        else:
            kept_rewards.append(score)
            kept_ends.append(end)
    return kept_rewards, kept_ends, n


def grpo_rows(rollouts: Sequence[dict], reward: str, tokenizer, *, process: bool, aggregate: str = "prm_min",
              step_sep: str = "line", with_answer: bool = True, column: str | None = None) -> Selection:
    """One iteration's rollouts (the G samples of each problem) -> GRPO rows with their advantages
    (train/grpo.py), group by group. Empty completions are dropped; a group left with fewer than 2
    samples has no baseline and is dropped whole. `column`: the reward "scorer"'s column."""
    groups: dict[str, list[dict]] = {}
    dropped = {"empty_completion": 0, "group_too_small": 0}
    for row in rollouts:
        if not (row["text"] or "").strip():
            dropped["empty_completion"] += 1
            continue
        groups.setdefault(str(row["problem_id"]), []).append(row)
    out, rewards, lengths, flat_groups = [], [], [], 0
    for problem_id, group in sorted(groups.items()):
        if len(group) < 2:
            dropped["group_too_small"] += len(group)
            continue
        group = sorted(group, key=lambda r: int(r["sample_index"]))
        base = [{"problem_id": problem_id, "source_model": str(r["model"]), "sample_index": int(r["sample_index"]),
                 "level": r["level"], "prompt": r["prompt"], "completion": r["text"], "eos": ends_eos(r)}
                for r in group]
        sample_rewards = [outcome_reward(r, reward, aggregate, column) for r in group]
        if process:
            layout = [process_rewards(r, tokenizer, step_sep, with_answer) for r in group]
            per_token = process_advantages([x[0] for x in layout], [x[1] for x in layout], [x[2] for x in layout])
            rows = [{**b, "advantages": a} for b, a in zip(base, per_token)]
            flat = len({s for x in layout for s in x[0]}) == 1
        else:
            rows = [{**b, "advantage": a} for b, a in zip(base, outcome_advantages(sample_rewards))]
            flat = len(set(sample_rewards)) == 1
        flat_groups += flat
        out += [{**row, "reward": r} for row, r in zip(rows, sample_rewards)]
        rewards += sample_rewards
        lengths += [int(r.get("n_generated_tokens") or 0) for r in group]
    extra = {"reward": reward, "supervision": "process" if process else "outcome",
             "mean_reward": statistics.fmean(rewards) if rewards else None,
             "mean_length": statistics.fmean(lengths) if lengths else None,
             "groups": len(groups) - sum(1 for g in groups.values() if len(g) < 2),
             "groups_without_signal": flat_groups}  # every reward equal: advantages 0, only the KL term acts
    return Selection(out, n_in=len(rollouts), kept=len(out), dropped=dropped, unit="solution", extra=extra)


# Fewer pairs than this is no outcome RM: one pair teaches it one text against another.
ORM_MIN_PAIRS = 2


def orm_pairs(samples: Sequence[dict], stage: str = "rl/orm/select") -> Selection:
    """The outcome RM's training pairs from the policy's samples of easy problems (the PRM's data, its
    correctness by the easy problems' gold): per problem, its right and wrong samples paired in
    sample order, as many pairs as the smaller side has. Fewer than ORM_MIN_PAIRS pairs is an error
    naming `stage` and the counts (on small data every sample of a problem can be right, or wrong)."""
    by_problem: dict[str, list[dict]] = {}
    for row in samples:
        by_problem.setdefault(str(row["problem_id"]), []).append(row)
    rows, all_right, all_wrong = [], 0, 0
    for problem_id, group in sorted(by_problem.items()):
        group = sorted(group, key=lambda r: int(r["sample_index"]))
        right = [r for r in group if r["correct"] and (r["text"] or "").strip()]
        wrong = [r for r in group if not r["correct"] and (r["text"] or "").strip()]
        if not right or not wrong:
            all_right += bool(right)
            all_wrong += not right
            continue
        for good, bad in zip(right, wrong):
            prompt, chosen = outcome_rm_pair(good["question"], good["text"])
            rows.append({"problem_id": problem_id, "source_model": str(good["model"]),
                         "sample_index": int(good["sample_index"]), "level": good["level"], "prompt": prompt,
                         "chosen": chosen, "rejected": outcome_rm_pair(bad["question"], bad["text"])[1]})
    if len(rows) < ORM_MIN_PAIRS:
        raise ValueError(
            f"{stage}: {len(rows)} pair(s) of a right and a wrong sample for the outcome RM (reward orm), fewer "
            f"than {ORM_MIN_PAIRS}: of {len(by_problem)} easy problem(s) ({len(samples)} samples), {all_right} had "
            f"only right samples and {all_wrong} only wrong (or empty) ones. Raise easy_to_hard.prm_samples or "
            "n_prm_problems, or leave orm out of easy_to_hard.rl.rewards")
    dropped = all_right + all_wrong
    return Selection(rows, n_in=len(by_problem), kept=len(by_problem) - dropped,
                     dropped={"no_right_and_wrong": dropped}, extra={"all_right": all_right, "all_wrong": all_wrong})
