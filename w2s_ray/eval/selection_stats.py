"""Selection statistics for reports: how much a selection kept, and how much of it was right.

"Right" is judged against the strong half's gold answers, read here for reporting only: these
numbers are computed from finished stage outputs after the fact and feed nothing back into a run.
"""
from __future__ import annotations


from w2s_ray.config import RunConfig
from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output
from w2s_ray.select.quality import selection_quality
from w2s_ray.text.answers import normalize_answer


def strong_half_gold(manifest: Manifest) -> dict[str, str | None]:
    """{problem id: gold answer} of the run's strong_train split."""
    data = RunConfig.model_validate(manifest.config).data
    return {p.id: p.gold for p in strong_train_with_gold(data)}


def _rows(manifest: Manifest, key: str) -> list[dict]:
    return read_output(manifest.record(key)["outputs"]["rows"])


def selection_stats(manifest: Manifest, key: str, gold: dict[str, str | None]) -> dict | None:
    """share_kept (of the problems or solutions the selection saw), kept_correct (share of kept
    answers equal to gold), per teacher where the selection has a breakdown; None if not run."""
    if not manifest.is_complete(key):
        return None
    record = manifest.record(key)
    metrics, rows = record["metrics"], _rows(manifest, key)
    n_in, kept = record["rows_in"] or 0, metrics.get("kept", record["rows_out"])
    pairs = pairs_by_level(rows, gold) if rows and "chosen" in rows[0] else None
    if pairs is not None:  # preference pairs: judge the answer of the chosen side
        rows = [{"problem_id": r["problem_id"], "source_model": r["source_model"], "answer": r["chosen_answer"]}
                for r in rows]
    quality = selection_quality(rows, gold)
    by_teacher = {}
    for teacher, counts in (metrics.get("by_teacher") or {}).items():
        seen = counts["kept"] + sum(counts["dropped"].values())
        by_teacher[teacher] = {"share_kept": counts["kept"] / seen if seen else None,
                               "kept_correct": quality["by_source"].get(teacher, {}).get("accuracy")}
    return {"unit": metrics.get("unit"), "n_in": n_in, "kept": kept, "rows": len(rows),
            "share_kept": kept / n_in if n_in else None, "kept_correct": quality["accuracy"],
            "by_teacher": by_teacher, **({"pairs_by_level": pairs} if pairs is not None else {})}


def pairs_by_level(rows: list[dict], gold: dict[str, str | None]) -> dict[str, dict]:
    """Preference pairs per level: how many, the share whose chosen answer is right, the share whose
    rejected answer is wrong, and how many are both (a pair that teaches the right answer over a wrong
    one). A level's pairs that are mostly wrong-over-wrong cannot raise that level."""
    tallies: dict[str, dict[str, int]] = {}
    for r in rows:
        answer = normalize_answer(gold.get(r["problem_id"]))
        if not answer:
            continue
        right = normalize_answer(r["chosen_answer"]) == answer
        # A pair without `rejected_answer` (a selection that did not record it) counts as not known wrong.
        wrong = r.get("rejected_answer") is not None and normalize_answer(r["rejected_answer"]) != answer
        t = tallies.setdefault(str(r.get("level")), {"pairs": 0, "chosen_right": 0, "rejected_wrong": 0, "right_over_wrong": 0})
        t["pairs"] += 1
        t["chosen_right"] += right
        t["rejected_wrong"] += wrong
        t["right_over_wrong"] += right and wrong
    return {level: {"pairs": t["pairs"], "chosen_right": t["chosen_right"] / t["pairs"],
                    "rejected_wrong": t["rejected_wrong"] / t["pairs"], "right_over_wrong": t["right_over_wrong"]}
            for level, t in sorted(tallies.items())}
