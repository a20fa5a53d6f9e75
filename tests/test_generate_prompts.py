from __future__ import annotations

import pytest

from w2s_ray.config import TeacherConfig
from w2s_ray.generate.stage import build_requests, sample_seed
from w2s_ray.text.prompts import build_prompt, pick_demos, zero_shot

POOL = [{"id": f"d{i}", "question": f"Q{i}?", "solution": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(8)]
PROBLEM = {"id": "d3", "question": "Mia has 2 cats. How many cats does Mia have now?", "gold": "2", "level": 1}


def test_zero_shot_is_the_methods_template():
    assert zero_shot("What is 2 + 2?") == "Question: What is 2 + 2?\nAnswer:"


def test_few_shot_prompt_ends_with_the_question_and_never_shows_the_problem_itself():
    prompt = build_prompt(PROBLEM, shots=3, pool=POOL, seed=0)
    blocks = prompt.split("\n\n")
    assert len(blocks) == 4 and blocks[-1] == zero_shot(PROBLEM["question"])
    assert all(b.startswith("Question: Q") and "#### " in b for b in blocks[:3])
    assert "Q3?" not in prompt  # d3 is the problem's own id


def test_demos_are_stable_per_problem_and_vary_across_problems():
    a = pick_demos(POOL, 3, "p1", seed=0)
    assert a == pick_demos(POOL, 3, "p1", seed=0)
    assert any(pick_demos(POOL, 3, f"p{i}", seed=0) != a for i in range(2, 10))


def test_too_few_demos_is_a_clear_error():
    with pytest.raises(ValueError, match="need at least 5"):
        pick_demos(POOL[:3], 5, "x", seed=0)
    with pytest.raises(ValueError, match="demonstration pool"):
        build_prompt(PROBLEM, shots=2, pool=None, seed=0)


def test_requests_carry_one_distinct_seed_per_sample():
    teacher = TeacherConfig(name="t", model="m", n=4, temperature=1.0, seed=7)
    rows = build_requests([PROBLEM], teacher, None)
    assert [r["sample_index"] for r in rows] == [0, 1, 2, 3]
    seeds = [r["sampling_params"]["seed"] for r in rows]
    assert len(set(seeds)) == 4 and seeds[0] == sample_seed(7, "d3", 0)
    assert all("model" not in r for r in rows)  # `model` is the output's column (_finish)


def test_a_fixed_demo_set_is_shown_whole_and_in_order_before_every_question():
    from w2s_ray.text.prompts import FixedDemos

    fixed = FixedDemos(POOL[:3])
    prompts = {pid: build_prompt({"id": pid, "question": "q?"}, shots=2, pool=fixed, seed=s)
               for s, pid in enumerate(["p0", "p1", "p7"])}
    assert len(set(prompts.values())) == 1  # whatever the problem or seed
    shown = prompts["p0"].split("\n\n")
    assert shown[:2] == [f"Question: {d['question']}\nAnswer: {d['solution'].strip()}" for d in POOL[:2]]
    with pytest.raises(ValueError, match="fixed set has 3"):
        build_prompt(PROBLEM, shots=4, pool=fixed, seed=0)
