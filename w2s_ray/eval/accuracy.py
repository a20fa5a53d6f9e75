"""Accuracy by difficulty level, per model, from scored generation rows.

Only rows with gold count (`has_gold`); accuracy is over samples (greedy runs have one per problem).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from w2s_ray.data.schema import LEVELS

# The columns accuracy_by_model reads (a stage reads only these back from a large output).
ACCURACY_COLUMNS = ["model", "level", "has_gold", "gold", "correct", "answer_refused", "n_refused_steps",
                    "answer_timed_out", "n_wrong_steps", "n_checkable_steps"]


def _has(gold) -> bool:
    """A gold value, not a missing one: a column of None comes back from Ray Data's numpy batches
    as NaN (rows generated without gold and scored without answer_check: easy_to_hard's RL rollouts)."""
    return gold is not None and not (isinstance(gold, float) and gold != gold)


def accuracy_by_model(rows: Iterable[dict]) -> dict[str, dict]:
    """{model: {acc, n, acc_by_level: {level: acc}, n_by_level, step_error_rate, n_answer_refused,
    n_answer_timed_out, n_refused_steps}}."""
    right = defaultdict(lambda: defaultdict(int))
    total = defaultdict(lambda: defaultdict(int))
    steps = defaultdict(lambda: [0, 0])
    # answers whose comparison was refused, steps left unchecked, comparisons cut at their deadline
    refused = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        if not r.get("has_gold", _has(r.get("gold"))):
            continue
        model, level = r["model"], r.get("level")
        total[model][level] += 1
        right[model][level] += bool(r["correct"])
        refused[model][0] += bool(r.get("answer_refused", False))
        refused[model][1] += int(r.get("n_refused_steps", 0) or 0)
        refused[model][2] += bool(r.get("answer_timed_out", False))
        if "n_wrong_steps" in r:
            steps[model][0] += int(r["n_wrong_steps"])
            steps[model][1] += int(r["n_checkable_steps"])
    table = {}
    for model in total:
        n = sum(total[model].values())
        levels = sorted(total[model], key=lambda x: (x is None, x))
        table[model] = {
            "acc": sum(right[model].values()) / n,
            "n": n,
            "acc_by_level": {lvl: right[model][lvl] / total[model][lvl] for lvl in levels},
            "n_by_level": {lvl: total[model][lvl] for lvl in levels},
            "step_error_rate": steps[model][0] / steps[model][1] if steps[model][1] else None,
            # counted, never scored: a refused answer is not right, a refused step not checked
            "n_answer_refused": refused[model][0],
            "n_answer_timed_out": refused[model][2],
            "n_refused_steps": refused[model][1],
        }
    return table


def format_table(table: dict[str, dict], levels: Iterable[int] = LEVELS) -> str:
    """A markdown table: one row per model, accuracy (%) overall and per level."""
    levels = list(levels)
    head = "| model | n | acc | " + " | ".join(f"L{l}" for l in levels) + " | step err |"
    sep = "|" + "---|" * (len(levels) + 4)
    lines = [head, sep]
    for model, m in table.items():
        cells = [f"{100 * m['acc_by_level'][l]:.0f}" if l in m["acc_by_level"] else "-" for l in levels]
        err = "-" if m["step_error_rate"] is None else f"{100 * m['step_error_rate']:.0f}%"
        lines.append(f"| {model} | {m['n']} | {100 * m['acc']:.1f} | " + " | ".join(cells) + f" | {err} |")
    return "\n".join(lines)


def stage_accuracy(manifest, key: str | None) -> dict | None:
    """{acc, n, acc_by_level} of a finished eval stage of a run (its manifest record), None when the
    stage is missing, unfinished or measured no accuracy."""
    if key is None or not manifest.is_complete(key):
        return None
    acc = manifest.record(key)["metrics"].get("accuracy")
    if acc is None:
        return None
    return {"acc": acc["acc"], "n": acc["n"],
            "acc_by_level": {int(k): v for k, v in acc["acc_by_level"].items() if k not in (None, "None")}}
