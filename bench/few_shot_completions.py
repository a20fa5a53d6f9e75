"""Why k-shot does or does not help a testbed student: what its completions in a
`bench/student_few_shot.py --out` file hold, condition by condition (issue 26, difference 7).

    python bench/few_shot_completions.py runs/few_shot_markers.json

Per condition, the share of completions that
  ####     end with the target's answer line "#### N" (N any number; scored by the answer checker)
  #-like   end with a hash marker other than the target's ("#", "##", "###" before or after N)
  steps    write their steps in the target's shape only ("a op b = c", one a line; a line with a
           number alone, as an opening, allowed)
  arith    of every "a op b = c" they write, the share whose c is a op b (numbers parsed, never eval'd)
  chain    write exactly the gold solution's steps (read the question and computed it right)
  first    start from the question's starting amount (their first step's a is the gold's)
and accuracy read two ways: strict (the answer checker, as the bench scores) and by the last number
of the completion (whatever its marker), each k-shot minus zero-shot with its 95 % paired interval.
"""
from __future__ import annotations

import argparse
import json
import re

import numpy as np

from w2s_ray.config.loading import load_config
from w2s_ray.data.splits import build_demo_splits
from w2s_ray.eval.findings import paired_finding, render_findings

EQUATION = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
STEP_LINE = re.compile(r"^\d+ [-+*/] \d+ = \d+$")
FINAL_LINE = re.compile(r"####\s*-?\d+\s*$")
HASH_LIKE = re.compile(r"(?:(?<!#)#{1,3}\s*-?\d+|\d+\s*(?<!#)#{1,3})\s*$")


def right(a: int, op: str, b: int, c: int) -> bool:
    return {"+": a + b == c, "-": a - b == c, "*": a * b == c, "/": b != 0 and a == b * c}[op]


def equations(text: str) -> list[tuple[int, str, int, int]]:
    return [(int(a), op, int(b), int(c)) for a, op, b, c in EQUATION.findall(text)]


def describe(texts: list[str], problems: list) -> dict[str, float]:
    lines = [[x.strip() for x in t.strip().split("\n") if x.strip()] for t in texts]
    steps = [bool(ls[:-1]) and all(STEP_LINE.match(x) or x.isdigit() for x in ls[:-1]) for ls in lines]
    found = [equations(t) for t in texts]
    gold = [equations(p.solution) for p in problems]
    all_eq = [e for es in found for e in es]
    return {
        "####": float(np.mean([bool(FINAL_LINE.search(t)) for t in texts])),
        "#-like": float(np.mean([bool(HASH_LIKE.search(t)) for t in texts])),
        "steps": float(np.mean(steps)),
        "arith": float(np.mean([right(*e) for e in all_eq])) if all_eq else float("nan"),
        "chain": float(np.mean([f == g for f, g in zip(found, gold)])),
        "first": float(np.mean([bool(f) and f[0][0] == g[0][0] for f, g in zip(found, gold)])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a student_few_shot.py --out JSON")
    args = parser.parse_args()
    d = json.loads(open(args.path).read())
    bench = d["args"]
    cfg = load_config(bench["config"])
    test = build_demo_splits(cfg.data.seed, cfg.data.n_weak_train, cfg.data.n_strong_train, bench["per_level"])["test"]
    by_id = {p.id: p for p in test}
    problems = [by_id[i] for i in d["test_ids"]]
    findings = []
    for name, conditions in d["texts"].items():
        last = {}
        print(f"{name}: strict / last-number accuracy, then shares of completions (see the docstring)")
        for label, texts in conditions.items():
            numbers = [(re.findall(r"\d+", t) or [""])[-1] for t in texts]
            last[label] = {p.id: float(n == p.gold) for p, n in zip(problems, numbers)}
            shares = describe(texts, problems)
            print(f"  {label:14s} strict {100 * np.mean(d['correct'][name][label]):5.1f} %  last-number "
                  f"{100 * np.mean(list(last[label].values())):5.1f} %  "
                  + "  ".join(f"{k} {100 * v:5.1f} %" for k, v in shares.items()))
        strict = {label: dict(zip(d["test_ids"], map(float, values))) for label, values in d["correct"][name].items()}
        for label in conditions:
            if label != "0-shot":
                findings.append(paired_finding(f"{name}: {label} - 0-shot (strict)", f"{label} beats zero-shot",
                                               strict[label], strict["0-shot"]))
                findings.append(paired_finding(f"{name}: {label} - 0-shot (last number)", f"{label} beats zero-shot",
                                               last[label], last["0-shot"]))
    print("\n".join(render_findings(findings)))


if __name__ == "__main__":
    main()
