"""What the consistency filter keeps, by level and by the kind of the problem's first step, and what
each round's student then gets right on the test split: the filter's coverage bias, measured.

Stage I keeps a strong-half problem only where the student's own answer agrees with the weak
teacher's, so a kind of problem the base student cannot answer zero-shot is barely trained on in
round 1, whatever the teacher knows; later rounds widen the kept set as the student improves.

    python bench/filter_coverage.py runs/demo [--levels 1 2]
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from w2s_ray.data.world import STEP_TEMPLATES

OP_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def _template_pattern(template: str) -> str:
    fixed = re.escape(template).replace(r"\{pron\}", r"\w+").replace(r"\{k\}", r"\d+").replace(r"\{items\}", r"\w+")
    return fixed.replace(r"\ ", " ")


STEP_PATTERNS = [(OP_NAMES[op], re.compile(_template_pattern(t))) for op, ts in STEP_TEMPLATES.items() for t in ts]


def first_op(question: str) -> str:
    """The operation of the question's first step sentence (world.STEP_TEMPLATES), or "?"."""
    hits = [(m.start(), name) for name, pattern in STEP_PATTERNS for m in [pattern.search(question)] if m]
    return min(hits)[1] if hits else "?"


def question_of(prompt: str) -> str:
    return prompt.rsplit("Question:", 1)[-1].split("\nAnswer:", 1)[0]


def rows_of(stage_dir: Path) -> Path:
    """A stage's rows: the workers' files (rows/, generate and eval stages since issue 30) or data.parquet."""
    return stage_dir / "rows" if (stage_dir / "rows").is_dir() else stage_dir / "data.parquet"


def kind_counts(path: Path, levels: set[int], column: str) -> Counter:
    table = pq.read_table(path).to_pandas()
    table = table[table["level"].isin(levels)]
    if column == "prompt":  # a selection: one row per kept problem and role (weak, strong)
        table = table[table["role"] == "weak"]
    texts = table[column] if column == "question" else table[column].map(question_of)
    return Counter(zip(table["level"], texts.map(first_op)))


def accuracy_by_kind(path: Path, levels: set[int]) -> dict:
    table = pq.read_table(path).to_pandas()
    table = table[table["level"].isin(levels)]
    table = table.assign(kind=table["question"].map(first_op))
    return {(int(level), kind): (float(g["correct"].mean()), len(g)) for (level, kind), g in table.groupby(["level", "kind"])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    levels, run = set(args.levels), args.run_dir
    offered = kind_counts(rows_of(run / "round_1" / "generate_strong"), levels, "question")
    rounds = sorted(int(p.name.split("_")[1]) for p in run.glob("round_*") if (p / "select" / "data.parquet").exists())
    columns = [("base", run / "baselines" / "strong_base" / "eval"), ("full weak FT", run / "baselines" / "full_weak_ft" / "eval")]
    kept = {k: kind_counts(run / f"round_{k}" / "select" / "data.parquet", levels, "prompt") for k in rounds}
    acc = {name: accuracy_by_kind(rows_of(path), levels) for name, path in columns}
    acc.update({f"round {k}": accuracy_by_kind(rows_of(run / f"round_{k}" / "eval"), levels) for k in rounds})
    head = ["level", "first step", "strong half"] + [f"kept r{k}" for k in rounds] + [f"test acc {n}" for n in acc]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for key in sorted(offered):
        cells = [str(key[0]), key[1], str(offered[key])]
        cells += [f"{kept[k][key]} ({100 * kept[k][key] / offered[key]:.0f}%)" for k in rounds]
        cells += [f"{100 * a[key][0]:.0f}% of {a[key][1]}" if key in a else "-" for a in acc.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
