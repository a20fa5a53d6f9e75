"""Has the strong student a capability's skill in its own dress? Its zero-shot answers in the run's
strong-base evaluation, read the corpus's way ("So the answer is X." after a prose solution), against
gold, per capability; beside chance for the choice capabilities. The recipe's checker reads only the
target format, so the report's strong-base row is 0 % wherever the format is new, skill or none: this
is the measurement that tells the two apart, from rows a run already has (nothing is generated here).

  PYTHONPATH=$PWD python bench/multicap_latent_skill.py runs/demo-multicap [more run dirs]

A run dir with `baselines/strong_base/eval` (configs/demo-multicap.yaml writes it). Prose answers are
normalised as the capability reads them: commands' comma lists as the target's upper-case actions,
a facts place as the letter of the option that names it.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict

from w2s_ray.recipes.multi_capability.data import capability_of
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output

PROSE_ANSWER = re.compile(r"answer is ([^.\n]+)")
OPTION = re.compile(r"\(([A-D])\) ([a-z]+)")
STRONG_BASE_EVAL = "baselines/strong_base/eval"
CHANCE = {"temporal": 1 / 2, "logic": 1 / 3, "facts": 1 / 4}


def prose_answer(text: str) -> str | None:
    found = PROSE_ANSWER.findall(text)
    return found[-1].strip() if found else None


def as_target(capability: str, answer: str, question: str) -> str:
    if capability == "commands":
        return " ".join(a.strip().upper() for a in answer.replace(",", " ").split())
    if capability == "facts":
        places = {place: letter for letter, place in OPTION.findall(question)}
        return places.get(answer.strip().lower(), answer.strip().upper())
    return answer.strip().lower()


def latent_skill(run_dir: str) -> dict[str, dict]:
    manifest = Manifest.load(run_dir)
    if not manifest.is_complete(STRONG_BASE_EVAL):
        raise SystemExit(f"{run_dir}: no finished {STRONG_BASE_EVAL}")
    counts = defaultdict(lambda: {"n": 0, "prose_answer": 0, "right": 0})
    for row in read_output(manifest.record(STRONG_BASE_EVAL)["outputs"]["rows"]):
        cap = capability_of(row)
        c = counts[cap]
        c["n"] += 1
        answer = prose_answer(row["text"])
        if answer is None:
            continue
        c["prose_answer"] += 1
        gold = str(row["gold"])
        gold = gold.strip().lower() if cap not in ("commands", "facts") else gold.strip().upper()
        c["right"] += as_target(cap, answer, row["question"]) == gold
    return dict(counts)


def main() -> None:
    for run_dir in sys.argv[1:] or ["runs/demo-multicap"]:
        print(f"## {run_dir}: the strong base's prose answers (zero-shot), per capability")
        for cap, c in sorted(latent_skill(run_dir).items()):
            chance = f"chance {100 * CHANCE[cap]:.0f} %" if cap in CHANCE else ""
            print(f"  {cap:11s} n={c['n']:4d}  with a prose answer {c['prose_answer']:4d}  "
                  f"right {100 * c['right'] / c['n']:5.1f} %  {chance}")


if __name__ == "__main__":
    main()
