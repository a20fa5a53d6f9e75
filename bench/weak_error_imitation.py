"""Does a student trained on weak labels learn the teacher's wrong arithmetic facts? Reads a finished
demo run (no model is loaded).

The weak teacher's generations on the strong half give its arithmetic facts: every step line
"a op b = c" it wrote. A fact is wrong where c is not a op b. For each evaluated student, every
wrong step it writes on the test split is checked against those facts: "the teacher's" when the
teacher wrote the same a op b with the same wrong c. A student that imitates the teacher's errors by
rote repeats them; one that computes does not.

    python bench/weak_error_imitation.py runs/demo
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from w2s_ray.data.world import apply_op
from w2s_ray.run.manifest import Manifest

STEP = re.compile(r"(\d+) ([-+*/]) (\d+) = (-?\d+)")  # a target line, or inline in the student's prose


def steps(texts):
    for text in texts:
        for a, op, b, c in STEP.findall(text or ""):
            yield (int(a), op, int(b)), int(c)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    args = parser.parse_args()
    manifest = Manifest.load(Path(args.run_dir))

    def texts(stage: str) -> list[str]:
        return pq.read_table(manifest.record(stage)["outputs"]["rows"]["path"]).column("text").to_pylist()

    weak_stage = next(k for k in manifest.stages() if k.startswith("weak/") and k.endswith("/generate"))
    teacher: dict = {}
    for fact, c in steps(texts(weak_stage)):
        teacher.setdefault(fact, set()).add(c)
    wrong_facts = {f: cs - {apply_op(*f)} for f, cs in teacher.items()}
    wrong_facts = {f: cs for f, cs in wrong_facts.items() if cs}
    report = {"teacher_facts": len(teacher), "teacher_wrong_facts": len(wrong_facts)}
    for stage in [k for k in manifest.stages() if k.endswith("/eval") and not k.startswith("baselines/weak/")]:
        n = wrong = repeated = 0
        for fact, c in steps(texts(stage)):
            n += 1
            if c != apply_op(*fact):
                wrong += 1
                repeated += c in wrong_facts.get(fact, ())
        report[stage] = {"steps": n, "wrong_steps": wrong,
                         "wrong_step_share": round(wrong / max(1, n), 3),
                         "teachers_wrong_fact_share_of_wrong": round(repeated / max(1, wrong), 3)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
