"""Gold SFT rows are built by sft_row, as every other SFT row, and equal the rows the ceiling and the
weak teachers' gold fine-tuning built by hand before (so their selections hash the same)."""
from __future__ import annotations

from dataclasses import replace

from w2s_ray.data.world import generate_world
from w2s_ray.select import canonical_sha256, gold_sft
from w2s_ray.select.selection import SFT_COLUMNS
from w2s_ray.text.prompts import zero_shot


def _by_hand(p) -> dict:  # the row baselines and weak teachers built by hand before gold_sft
    return {"problem_id": p.id, "prompt": zero_shot(p.question), "completion": " " + p.solution.strip(),
            "source_model": "gold", "role": "gold", "sample_index": 0, "level": p.level, "answer": p.gold}


def test_gold_rows_are_sft_rows_equal_to_the_hand_built_ones():
    problems = generate_world(6, seed=3)
    selection = gold_sft(problems)
    assert selection.rows == sorted((_by_hand(p) for p in problems), key=lambda r: r["problem_id"])
    assert canonical_sha256(selection.rows) == canonical_sha256([_by_hand(p) for p in problems])
    assert all(tuple(r) == SFT_COLUMNS for r in selection.rows)
    assert (selection.n_in, selection.kept, selection.dropped) == (6, 6, {})


def test_problems_without_a_solution_are_dropped_and_counted():
    problems = generate_world(4, seed=3)
    problems = [replace(problems[0], solution=None), replace(problems[1], solution="  \n"), *problems[2:]]
    selection = gold_sft(problems)
    assert {r["problem_id"] for r in selection.rows} == {p.id for p in problems[2:]}
    assert (selection.n_in, selection.kept, selection.dropped) == (4, 2, {"no_gold_solution": 2})
