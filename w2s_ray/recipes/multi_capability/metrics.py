"""What the multi_capability recipe measures, as pure functions of rows (recipe.py and report.py
call them; tests hand-make the rows):

  accuracy_by_capability   an eval stage's rows -> {capability: {acc, n, acc_by_level}}
  independence_matrix      {trained on: {evaluated on: acc}} minus the strong base -> accuracy change
  own_minus_others         per test problem of capability d: right by the student trained on d minus
                           the mean of the students trained on the others (finding (a), paired)
  diversity                a sampled stage's rows -> per capability: distinct solutions and distinct
                           answers per question (as shares of the samples), and confidence: the share
                           of the samples that give the majority answer
  rm_pairs                 the outcome RM's training pairs from weak-half samples (which carry gold)
  own_outputs              a student's samples as its next round's SFT rows (self-bootstrapping)
  judge_selection          what a selection kept, judged against gold after the fact (precision)
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from w2s_ray.recipes.multi_capability.data import capability_of
from w2s_ray.select.selection import Selection, _as_int, sft_row
from w2s_ray.text.answers import normalize_answer
from w2s_ray.text.capability_answers import check_capability_answer
from w2s_ray.text.reward_format import outcome_rm_pair
from w2s_ray.text.vote import vote

ALL = "all"  # the key of a measure over every capability together


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def accuracy_by_capability(rows: Iterable[dict]) -> dict[str, dict]:
    """{capability: {acc, n, acc_by_level}} over rows with gold, and ALL over them together."""
    right: dict[str, list[float]] = defaultdict(list)
    by_level: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        if not r.get("has_gold", r.get("gold") is not None):
            continue
        value = float(bool(r["correct"]))
        for cap in (capability_of(r), ALL):
            right[cap].append(value)
            if r.get("level") is not None:
                by_level[(cap, int(r["level"]))].append(value)
    return {cap: {"acc": _mean(v), "n": len(v),
                  "acc_by_level": {lvl: _mean(by_level[(c, lvl)]) for c, lvl in sorted(by_level) if c == cap}}
            for cap, v in right.items()}


def independence_matrix(trained: Mapping[str, Mapping[str, float]], base: Mapping[str, float]) -> dict[str, dict]:
    """{trained on: {evaluated on: accuracy change over the strong base}}, and a summary: the mean
    diagonal change, the mean absolute off-diagonal change, and their ratio (small: independent)."""
    matrix = {t: {e: (acc - base[e]) if acc is not None and base.get(e) is not None else None
                  for e, acc in row.items() if e != ALL} for t, row in trained.items()}
    diagonal = [matrix[c][c] for c in matrix if matrix[c].get(c) is not None]
    off = [abs(v) for t, row in matrix.items() for e, v in row.items() if e != t and v is not None]
    mean_diag, mean_off = _mean(diagonal), _mean(off)
    ratio = mean_off / abs(mean_diag) if mean_diag else None
    return {"change": matrix, "mean_diagonal": mean_diag, "mean_abs_off_diagonal": mean_off, "off_over_diagonal": ratio}


def own_minus_others(correct: Mapping[str, Mapping[str, float]], capability: Mapping[str, str],
                     evaluated_on: str) -> dict[str, float]:
    """{problem of `evaluated_on`: right by its own student minus the mean of the others'}; only
    problems every student answered. `correct`: {trained on: {problem_id: 0/1}}."""
    own = correct.get(evaluated_on)
    others = [c for t, c in correct.items() if t != evaluated_on]
    if own is None or not others:
        return {}
    out = {}
    for pid, value in own.items():
        if capability.get(pid) != evaluated_on or not all(pid in o for o in others):
            continue
        out[pid] = value - sum(o[pid] for o in others) / len(others)
    return out


def diversity(rows: Iterable[dict]) -> dict[str, dict]:
    """{capability (and ALL): {questions, samples, distinct_solutions, distinct_answers, confidence}},
    each a mean over questions of a share of that question's samples."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r["problem_id"])].append(r)
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for samples in groups.values():
        n = len(samples)
        texts = {(s.get("text") or "").strip() for s in samples}
        answers = [normalize_answer(s.get("answer")) if s.get("answer") else "" for s in samples]
        stated = {a for a in answers if a}
        top_votes = vote(answers)[1]
        for cap in (capability_of(samples[0]), ALL):
            per[cap]["distinct_solutions"].append(len(texts) / n)
            per[cap]["distinct_answers"].append(len(stated) / n)
            per[cap]["confidence"].append(top_votes / n)
            per[cap]["samples"].append(n)
    return {cap: {"questions": len(m["samples"]), "samples": int(sum(m["samples"])),
                  **{k: _mean(m[k]) for k in ("distinct_solutions", "distinct_answers", "confidence")}}
            for cap, m in per.items()}


def is_right(row: dict, gold: str | None) -> bool:
    """Does a generation row state `gold`? Its capability's checker, or the arithmetic answer."""
    cap = capability_of(row)
    if cap != "arithmetic":
        return check_capability_answer(cap, gold, row.get("text"))
    return bool(gold) and bool(row.get("answer")) and normalize_answer(row["answer"]) == normalize_answer(gold)


def rm_pairs(samples: Sequence[dict], gold_solutions: Mapping[str, str], max_pairs: int, seed: int) -> Selection:
    """{prompt, chosen, rejected} per (question, teacher): a right sample or the gold solution against
    a wrong sample, up to max_pairs, drawn with `seed`. Samples are weak-half rows (they carry gold and
    answer_check's `correct`); a question without a wrong sample gives no pair (counted)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in samples:
        groups[(str(r["problem_id"]), str(r["model"]))].append(r)
    rows, dropped = [], Counter()
    for (pid, model), group in sorted(groups.items()):
        group.sort(key=lambda r: _as_int(r.get("sample_index")) or 0)
        wrong = [r["text"].strip() for r in group if not r["correct"] and (r.get("text") or "").strip()]
        right = list(dict.fromkeys([*(r["text"].strip() for r in group if r["correct"]),
                                    *([gold_solutions[pid].strip()] if gold_solutions.get(pid) else [])]))
        if not wrong or not right:
            dropped["no_wrong_sample" if not wrong else "no_right_solution"] += 1
            continue
        rng = random.Random(f"{seed}:{pid}:{model}")
        question = group[0]["question"]
        for i in range(min(max_pairs, len(wrong))):
            prompt, chosen = outcome_rm_pair(question, rng.choice(right))
            rows.append({"problem_id": pid, "source_model": model, "sample_index": i, "prompt": prompt,
                         "chosen": chosen, "rejected": outcome_rm_pair(question, wrong[i])[1],
                         "capability": capability_of(group[0])})
    return Selection(rows, n_in=len(groups), kept=len(groups) - sum(dropped.values()), dropped=dict(dropped))


def own_outputs(samples: Sequence[dict]) -> Selection:
    """A student's samples with text as SFT rows (role strong): what it trains on next round."""
    kept = [sft_row(r, "strong") for r in samples if (r.get("text") or "").strip()]
    return Selection(kept, n_in=len(samples), kept=len(kept), dropped={"empty_text": len(samples) - len(kept)},
                     unit="solution")


def judge_selection(kept: Iterable[dict], weak_rows: Sequence[dict], gold: Mapping[str, str]) -> dict[str, dict]:
    """{capability (and ALL): {solutions, kept, right_all, right_kept, precision, base_rate}}: how
    often the kept weak solutions are right against gold, beside the rate of all of them."""
    return judged(judge_counts(kept, weak_rows, gold))


def judge_counts(kept: Iterable[dict], weak_rows: Sequence[dict], gold: Mapping[str, str]) -> dict[str, Counter]:
    """judge_selection's counts, which add up over any split of the rows by problem (judge_data.py)."""
    key = lambda pid, model, i: (str(pid), str(model), _as_int(i) or 0)  # noqa: E731
    kept_keys = {key(r["problem_id"], r["source_model"], r.get("sample_index")) for r in kept}
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in weak_rows:
        if not (r.get("text") or "").strip():
            continue
        right = is_right(r, gold.get(str(r["problem_id"])))
        chosen = key(r["problem_id"], r["model"], r.get("sample_index")) in kept_keys
        for cap in (capability_of(r), ALL):
            counts[cap].update(solutions=1, kept=chosen, right_all=right, right_kept=right and chosen)
    return dict(counts)


def judged(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict]:
    return {cap: {"solutions": c["solutions"], "kept": c["kept"], "right_all": c["right_all"],
                  "right_kept": c["right_kept"],
                  "precision": c["right_kept"] / c["kept"] if c["kept"] else None,
                  "base_rate": c["right_all"] / c["solutions"] if c["solutions"] else None}
            for cap, c in sorted(counts.items())}
