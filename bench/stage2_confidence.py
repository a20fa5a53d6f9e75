"""How right the Stage-I student's majority answer is, by its confidence and level, on the questions
Stage II sampled (gold looked up after the fact; the run never reads it). Stage II can only teach a
level where confident majorities are mostly right and the weak teacher is wrong.

    python bench/stage2_confidence.py [RUN_DIR]   (default runs/demo-w2s)
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path

import pyarrow.parquet as pq

from w2s_ray.config import RunConfig
from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.run.manifest import Manifest
from w2s_ray.text.answers import normalize_answer


def _rows(manifest: Manifest, key: str) -> list[dict]:
    return pq.read_table(manifest.record(key)["outputs"]["rows"]["path"]).to_pylist()


def main() -> None:
    manifest = Manifest.load(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo-w2s"))
    gold = {p.id: normalize_answer(p.gold) for p in strong_train_with_gold(RunConfig.model_validate(manifest.config).data)}
    first_weak = manifest.config["weak"][0]["name"]
    weak = {r["problem_id"]: normalize_answer(r["answer"]) for r in _rows(manifest, f"weak/{first_weak}/generate")}
    samples = collections.defaultdict(list)
    for r in _rows(manifest, "stage2/sample"):
        samples[r["problem_id"]].append(r)
    table = collections.defaultdict(collections.Counter)
    for pid, group in samples.items():
        answers = [a for a in (normalize_answer(r["answer"]) for r in group) if a]
        top, count = collections.Counter(answers).most_common(1)[0] if answers else ("", 0)
        confidence = count / len(group)
        band = "< 0.5" if confidence < 0.5 else "0.5-0.8" if confidence < 0.8 else ">= 0.8"
        t = table[("L1-3" if int(group[0]["level"]) <= 3 else "L4-5", band)]
        t["questions"] += 1
        t["majority right"] += top == gold[pid]
        t[f"right, {first_weak} wrong"] += top == gold[pid] and weak.get(pid) != gold[pid]
        t[f"wrong, {first_weak} disagrees"] += top != gold[pid] and weak.get(pid) != top
    print(f"{'levels':<6} {'confidence':<10} {'questions':>9} {'majority right':>15}  what overrules could teach")
    for (levels, band), t in sorted(table.items()):
        extra = {k: v for k, v in t.items() if k not in ("questions", "majority right")}
        print(f"{levels:<6} {band:<10} {t['questions']:>9} {100 * t['majority right'] / t['questions']:>14.0f}%  {extra}")


if __name__ == "__main__":
    main()
