"""Stage II's preference pairs of a finished run, by level: how many pairs, and how often the chosen
solution's answer is right and the rejected one's wrong. Gold is looked up after the fact (the run
itself never reads the strong half's gold); it says whether the pairs can teach levels 4-5 anything.

    python bench/stage2_pairs.py [RUN_DIR]   (default runs/demo-w2s)
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from w2s_ray.config import RunConfig
from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.manifest import Manifest


def main() -> None:
    run_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo-w2s")
    manifest = Manifest.load(run_dir)
    config = RunConfig.model_validate(json.loads((run_dir / "manifest.json").read_text())["config"])
    gold = {p.id: p.gold for p in strong_train_with_gold(config.data)}
    pairs = pq.read_table(manifest.record("stage2/pairs")["outputs"]["rows"]["path"]).to_pylist()
    samples = pq.read_table(manifest.record("stage2/sample")["outputs"]["rows"]["path"]).to_pylist()
    asked = collections.Counter(str(r["level"]) for r in samples if r["sample_index"] == 0)
    by_level = collections.defaultdict(collections.Counter)
    for p in pairs:
        c = by_level[str(p["level"])]
        right, wrong = p["chosen_answer"] == gold[p["problem_id"]], p["rejected_answer"] != gold[p["problem_id"]]
        c["pairs"] += 1
        c["chosen right"] += right
        c["rejected wrong"] += wrong
        c["useful (chosen right, rejected wrong)"] += right and wrong
        c[f"case {p['case']}"] += 1
        c[f"right {p['case']}"] += right
    print(f"{'level':>5} {'questions':>9} {'pairs':>5} {'chosen right':>12} {'rejected wrong':>14} {'useful':>6}  cases")
    for level in sorted(asked):
        c = by_level[level]
        n = c["pairs"] or 1
        cases = {k[5:]: f"{c['right ' + k[5:]]}/{v} chosen right" for k, v in c.items() if k.startswith("case ")}
        print(f"{level:>5} {asked[level]:>9} {c['pairs']:>5} {100 * c['chosen right'] / n:>11.0f}% "
              f"{100 * c['rejected wrong'] / n:>13.0f}% {c['useful (chosen right, rejected wrong)']:>6}  {cases}")


if __name__ == "__main__":
    main()
