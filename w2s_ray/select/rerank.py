"""Selection by reward over N samples of a problem, beside plain majority vote (METHODS.md 4 and 6).

Reranking works on any sampled stage's rows (one model, N samples per problem), once the scorers
have added their columns:

  majority    the most common answer (score.majority_vote.vote: ties to the earliest sample)
  best_of_n   the answer of the sample the reward scores highest (an ORM's `reward`, or a PRM's
              aggregate `prm_min` / `prm_prod` / `prm_last`); ties to the earliest sample
  weighted    each sample votes for its answer with its score; the answer with the largest sum wins

A sample with no answer never wins; a missing (NaN) score counts as no vote and ranks last.
`rerank` returns one pick per (problem_id, model); `accuracy_by_level` scores the picks against the
`correct` column of the chosen answer's rows (answer_check's verdict, same answer same verdict).

Zhou et al. (METHODS.md 6), selection of weak data by a reward model: `top_by_reward` keeps the
weak solutions the RM scores highest, by top fraction or by threshold (the paper published no rule,
so both are a config), as SFT rows; `two_stage_schedule` is the training plan that follows: all weak
data first, then the selected part, continuing from the first stage's model.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from w2s_ray.select.selection import Selection, _as_int, sft_row
from w2s_ray.text.answers import normalize_answer
from w2s_ray.text.vote import vote

METHODS = ("majority", "best_of_n", "weighted")
SCORE_COLUMNS = ("reward", "prm_min", "prm_prod", "prm_last")


def _score(row: dict, column: str) -> float:
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return -math.inf
    return float(value)


def pick(samples: Sequence[dict], method: str, score_column: str = "prm_min") -> str:
    """The answer `method` picks among one problem's samples ("" when none has an answer)."""
    ordered = sorted(samples, key=lambda r: _as_int(r.get("sample_index")) or 0)
    answers = [normalize_answer(r.get("answer")) if r.get("answer") else "" for r in ordered]
    if method == "majority":
        return vote(answers)[0]
    scored = [(a, _score(r, score_column)) for a, r in zip(answers, ordered) if a]
    if not scored:
        return ""
    if method == "best_of_n":
        best = max(s for _, s in scored)
        return next(a for a, s in scored if s == best)
    if method == "weighted":
        totals: dict[str, float] = {}
        for answer, score in scored:
            totals[answer] = totals.get(answer, 0.0) + (score if score > -math.inf else 0.0)
        best = max(totals.values())
        return next(a for a, _ in scored if totals[a] == best)
    raise ValueError(f"rerank method must be one of {METHODS}, got {method!r}")


def rerank(rows: Iterable[dict], method: str, score_column: str = "prm_min") -> list[dict]:
    """One pick per (problem_id, model): {problem_id, model, level, answer, correct, n}."""
    if method != "majority" and score_column not in SCORE_COLUMNS:
        raise ValueError(f"score_column must be one of {SCORE_COLUMNS}, got {score_column!r}")
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(str(row["problem_id"]), str(row["model"]))].append(row)
    picks = []
    for (problem_id, model), samples in sorted(groups.items()):
        answer = pick(samples, method, score_column)
        same = [r for r in samples if r.get("answer") and normalize_answer(r["answer"]) == answer]
        picks.append({"problem_id": problem_id, "model": model, "level": _as_int(samples[0].get("level")),
                      "answer": answer, "correct": bool(answer) and bool(same[0].get("correct")),
                      "n": len(samples)})
    return picks


def accuracy_by_level(picks: Iterable[dict]) -> dict:
    """{"acc": overall, "acc_by_level": {"1": ..., "5": ...}, "n": problems}: levels as string keys."""
    picks = list(picks)
    by_level: dict[str, list[bool]] = defaultdict(list)
    for p in picks:
        by_level[str(p["level"])].append(bool(p["correct"]))
    return {"acc": sum(p["correct"] for p in picks) / len(picks) if picks else 0.0,
            "acc_by_level": {lvl: sum(v) / len(v) for lvl, v in sorted(by_level.items())}, "n": len(picks)}


def reward_rank(row: dict, score_column: str = "reward") -> tuple:
    """A weak solution's place in top_by_reward's ranking: highest score first, ties by problem,
    model and sample (a total order, so a cut by rank is the same however the rows are split)."""
    return (-_score(row, score_column), str(row["problem_id"]), str(row["model"]),
            _as_int(row.get("sample_index")) or 0)


def reward_candidate(row: dict, score_column: str = "reward") -> bool:
    """Can the RM's ranking keep this solution? It has text and a score."""
    return bool((row.get("text") or "").strip()) and _score(row, score_column) > -math.inf


def top_by_reward(weak_rows: Sequence[dict], score_column: str = "reward", top_fraction: float | None = None,
                  threshold: float | None = None) -> Selection:
    """The weak solutions the reward model scores highest, as SFT rows (Zhou et al.): the top
    `top_fraction` of them (rounded up), or those scoring at least `threshold`; exactly one of the two.
    Solutions without text or score are dropped, counted."""
    check_reward_cut(top_fraction, threshold)
    if threshold is not None:
        return reward_cut(weak_rows, score_column, threshold=threshold)
    ranks = sorted(reward_rank(r, score_column) for r in weak_rows if reward_candidate(r, score_column))
    k = math.ceil(top_fraction * len(ranks))
    return reward_cut(weak_rows, score_column, last_kept=ranks[k - 1] if k else None)


def check_reward_cut(top_fraction: float | None, threshold: float | None) -> None:
    if (top_fraction is None) == (threshold is None):
        raise ValueError("give exactly one of top_fraction and threshold")
    if top_fraction is not None and not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")


def reward_cut(weak_rows: Sequence[dict], score_column: str = "reward", threshold: float | None = None,
               last_kept: tuple | None = None) -> Selection:
    """top_by_reward once its cut is known, one row at a time (so batches of the rows add up to the
    whole): the candidates scoring at least `threshold`, or those ranked no lower than `last_kept`
    (reward_rank of the last one the top fraction keeps; None: none kept)."""
    candidates = [r for r in weak_rows if reward_candidate(r, score_column)]
    if threshold is not None:
        kept = [r for r in candidates if _score(r, score_column) >= threshold]
    else:
        kept = [r for r in candidates if last_kept is not None and reward_rank(r, score_column) <= last_kept]
    dropped = {"empty_text_or_unscored": len(weak_rows) - len(candidates), "below_cut": len(candidates) - len(kept)}
    return Selection([sft_row(r, "weak") for r in kept], n_in=len(weak_rows), kept=len(kept), dropped=dropped,
                     unit="solution")


def two_stage_schedule(all_weak: Selection, selected: Selection, first_epochs: float = 2.0,
                       second_epochs: float = 1.0) -> list[dict]:
    """Zhou et al.'s plan: stage 1 all weak data (2 epochs in the paper), stage 2 the selected part,
    from stage 1's model. Each entry: {stage, rows, epochs, from}."""
    return [{"stage": "all_weak", "rows": all_weak.rows, "epochs": first_epochs, "from": "base"},
            {"stage": "selected", "rows": selected.rows, "epochs": second_epochs, "from": "all_weak"}]
