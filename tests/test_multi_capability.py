"""The multi_capability recipe's pure parts (recipes/multi_capability): its config, data, the RM
selection and two-stage counts, the independence matrix, bootstrapping's confidence and diversity,
the RM's pairs, the selection judged against gold, and the findings from hand-made rows."""
from __future__ import annotations

import pytest

from w2s_ray.config import RunConfig
from w2s_ray.recipes.multi_capability import data as mc_data
from w2s_ray.recipes.multi_capability.config import MultiCapabilityConfig
from w2s_ray.recipes.multi_capability.metrics import (ALL, accuracy_by_capability, diversity, independence_matrix,
                                                      judge_selection, own_minus_others, own_outputs, rm_pairs)
from w2s_ray.recipes.multi_capability.report import findings, markdown
from w2s_ray.select.rerank import top_by_reward, two_stage_schedule
from w2s_ray.select.full_weak import take_all

BASE = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"}}
SECTION = {"capabilities": ["logic", "facts"], "n_weak_train": 8, "n_strong_train": 6, "n_test_per_level": 1}


def test_the_section_is_required_and_names_known_capabilities_and_one_rule():
    with pytest.raises(ValueError, match="needs its section 'multi_capability'"):
        RunConfig.model_validate({**BASE, "recipe": "multi_capability"})
    with pytest.raises(ValueError, match="unknown capability 'poetry'"):
        RunConfig.model_validate({**BASE, "recipe": "multi_capability", "multi_capability": {"capabilities": ["poetry"]}})
    config = RunConfig.model_validate({**BASE, "recipe": "multi_capability", "multi_capability": SECTION})
    mc = config.multi_capability
    assert (mc.first_epochs, mc.second_epochs, mc.rm.cut()) == (2.0, 2.0, {"top_fraction": 0.5})
    assert MultiCapabilityConfig(**SECTION, rm={"rule": "threshold", "threshold": 1.5}).rm.cut() == {"threshold": 1.5}


def test_the_splits_mix_every_capability_and_the_strong_half_is_questions_only():
    mc = MultiCapabilityConfig(**SECTION)
    splits = mc_data.splits(mc, 0)
    assert [len(splits[s]) for s in ("weak_train", "strong_train")] == [16, 12]
    assert {p.capability for p in splits["test"]} == {"logic", "facts"} and len(splits["test"]) == 10
    assert all(p.gold is None and p.solution is None for p in splits["strong_train"])
    gold = mc_data.strong_half_gold(mc, 0)
    assert [p.id for p in gold] == [p.id for p in splits["strong_train"]] and all(p.gold for p in gold)
    seen = {s: {p.id for p in splits[s]} for s in splits}
    assert not seen["weak_train"] & seen["strong_train"] and not seen["test"] & (seen["weak_train"] | seen["strong_train"])


def _weak(pid: str, model: str, i: int, reward: float, text: str = "x", cap: str | None = "logic") -> dict:
    return {"problem_id": pid, "model": model, "role": "weak", "sample_index": i, "question": f"Q {pid}?",
            "text": text, "answer": "yes", "level": 1, "reward": reward, "capability": cap}


def test_rm_selection_keeps_the_top_fraction_or_the_threshold_and_two_stages_count_their_rows():
    rows = [_weak(f"p{i}", "wa", 0, float(i)) for i in range(10)] + [_weak("p10", "wa", 0, 9.0, text=" ")]
    kept = top_by_reward(rows, "reward", top_fraction=0.25)
    assert kept.kept == 3 and {r["problem_id"] for r in kept.rows} == {"p9", "p8", "p7"}
    assert kept.dropped == {"below_cut": 7, "empty_text_or_unscored": 1}
    assert top_by_reward(rows, "reward", threshold=6.0).kept == 4
    plan = two_stage_schedule(take_all(rows), kept, 2.0, 2.0)
    assert [(s["stage"], len(s["rows"]), s["epochs"], s["from"]) for s in plan] == [
        ("all_weak", 10, 2.0, "base"), ("selected", 3, 2.0, "all_weak")]


def test_the_independence_matrix_is_the_change_over_the_base():
    trained = {"logic": {"logic": 0.9, "facts": 0.42, ALL: 0.7}, "facts": {"logic": 0.5, "facts": 0.8}}
    out = independence_matrix(trained, {"logic": 0.5, "facts": 0.4, ALL: 0.45})
    assert out["change"]["logic"] == pytest.approx({"logic": 0.4, "facts": 0.02})
    assert out["change"]["facts"] == pytest.approx({"logic": 0.0, "facts": 0.4})
    assert out["mean_diagonal"] == pytest.approx(0.4) and out["mean_abs_off_diagonal"] == pytest.approx(0.01)
    assert out["off_over_diagonal"] == pytest.approx(0.025)


def test_own_minus_others_is_paired_on_the_capabilitys_problems_all_answered():
    correct = {"a": {"a1": 1.0, "a2": 0.0, "b1": 0.0}, "b": {"a1": 0.0, "a2": 0.0, "b1": 1.0},
               "c": {"a1": 1.0, "b1": 1.0}}
    of = {"a1": "a", "a2": "a", "b1": "b"}
    assert own_minus_others(correct, of, "a") == {"a1": 0.5}  # a2: c did not answer it
    assert own_minus_others(correct, of, "b") == {"b1": 0.5}
    assert own_minus_others({"a": correct["a"]}, of, "a") == {}


def test_diversity_counts_distinct_solutions_answers_and_the_majority_share():
    rows = [{"problem_id": "q1", "text": t, "answer": a, "capability": "logic"}
            for t, a in [("s1", "yes"), ("s1", "yes"), ("s2", "yes"), ("s3", "no")]]
    rows += [{"problem_id": "q2", "text": "s", "answer": "", "capability": None} for _ in range(2)]
    out = diversity(rows)
    assert out["logic"] == {"questions": 1, "samples": 4, "distinct_solutions": 0.75, "distinct_answers": 0.5,
                            "confidence": 0.75}
    assert out["arithmetic"]["distinct_answers"] == 0.0 and out["arithmetic"]["confidence"] == 0.0
    assert out[ALL]["questions"] == 2 and out[ALL]["distinct_solutions"] == pytest.approx((0.75 + 0.5) / 2)


def test_accuracy_by_capability_counts_only_rows_with_gold():
    rows = [{"problem_id": "a", "correct": True, "has_gold": True, "level": 1, "capability": "logic"},
            {"problem_id": "b", "correct": False, "has_gold": True, "level": 2, "capability": "logic"},
            {"problem_id": "c", "correct": True, "has_gold": True, "level": 1},
            {"problem_id": "d", "correct": False, "has_gold": False, "level": 1}]
    out = accuracy_by_capability(rows)
    assert out["logic"] == {"acc": 0.5, "n": 2, "acc_by_level": {1: 1.0, 2: 0.0}}
    assert out["arithmetic"]["acc"] == 1.0 and out[ALL]["n"] == 3


def test_rm_pairs_put_a_right_sample_or_gold_against_a_wrong_one():
    samples = [{**_weak("p1", "wa", i, 0.0, text=t), "correct": c}
               for i, (t, c) in enumerate([("right", True), ("bad1", False), ("bad2", False), ("bad3", False)])]
    samples += [{**_weak("p2", "wa", i, 0.0, text="ok"), "correct": True} for i in range(2)]  # nothing wrong
    samples += [{**_weak("p3", "wa", 0, 0.0, text="bad"), "correct": False}]  # only gold stands against it
    pairs = rm_pairs(samples, {"p3": "Verdict: yes"}, max_pairs=2, seed=0)
    assert pairs.n_in == 3 and pairs.kept == 2 and pairs.dropped == {"no_wrong_sample": 1}
    by = {}
    for r in pairs.rows:
        by.setdefault(r["problem_id"], []).append(r)
    assert len(by["p1"]) == 2 and all(r["chosen"].strip() == "right" for r in by["p1"])
    assert [r["rejected"].strip() for r in by["p1"]] == ["bad1", "bad2"]
    assert by["p3"][0]["chosen"].strip() == "Verdict: yes" and by["p3"][0]["prompt"].startswith("Question: Q p3?")
    assert rm_pairs(samples[-1:], {}, 2, 0).dropped == {"no_right_solution": 1}


def test_own_outputs_and_the_judged_selection():
    samples = [_weak("p1", "s", 0, 0.0), _weak("p1", "s", 1, 0.0, text="")]
    own = own_outputs(samples)
    assert own.kept == 1 and own.dropped == {"empty_text": 1} and own.rows[0]["role"] == "strong"
    weak = [_weak("p1", "wa", 0, 0.0, text="Verdict: yes"), _weak("p2", "wa", 0, 0.0, text="Verdict: no"),
            _weak("p3", "wa", 0, 0.0, text="Verdict: no"),
            {**_weak("p4", "wa", 0, 0.0, text="2 + 2 = 4\n#### 4", cap=None), "answer": "4"}]
    kept = top_by_reward([{**w, "reward": r} for w, r in zip(weak, [3.0, 2.0, 0.0, 1.0])], top_fraction=0.5).rows
    judged = judge_selection(kept, weak, {"p1": "yes", "p2": "yes", "p3": "no", "p4": "4"})
    assert judged["logic"] == {"solutions": 3, "kept": 2, "right_all": 2, "right_kept": 1, "precision": 0.5,
                               "base_rate": pytest.approx(2 / 3)}
    assert judged["arithmetic"]["right_all"] == 1 and judged[ALL]["kept"] == 2


def test_findings_from_hand_made_rows():
    caps = ["a", "b"]
    ids = {"a": [f"a{i}" for i in range(20)], "b": [f"b{i}" for i in range(20)]}
    ids[ALL] = ids["a"] + ids["b"]
    every = ids[ALL]
    correct = {
        "only a": {p: float(p.startswith("a")) for p in every}, "only b": {p: float(p.startswith("b")) for p in every},
        "full_weak_ft": {p: 1.0 for p in every}, "bootstrap round 3": {p: 0.0 for p in every},
        "rm two-stage": {p: float(p.startswith("a")) for p in every},
    }
    out = {f["id"]: f for f in findings(correct, ids, caps, 3)}
    assert out["independence:a"]["verdict"] == "holds" and out["independence:all"]["diff"] == 1.0
    assert out["bootstrap_degrades:b"]["verdict"] == "holds" and out["bootstrap_degrades:all"]["n_test"] == 40
    assert out["rm_two_stage>full_weak_ft:a"]["diff"] == 0.0
    assert out["rm_two_stage>full_weak_ft:b"]["verdict"] == "reversed"
    out = {f["id"]: f for f in findings({k: v for k, v in correct.items() if k != "only b"}, ids, caps, 1)}
    assert out["independence:a"]["verdict"] == "not run" and out["bootstrap_degrades:a"]["verdict"] == "not run"


def test_markdown_rows_per_capability():
    part = {"models": {"weak": {"acc": 0.3}, "ceiling": {"acc": 0.4}}, "ceiling_lead": 0.1, "ceiling_lead_ok": False,
            "rm_selection": {"precision": 0.8, "base_rate": 0.5},
            "pgr": {"full_weak_ft": {"pgr": 0.5, "low": -0.25, "high": 1.0}, "rm two-stage": None},
            "bootstrap": [{"round": 1, "acc": 0.4, "confidence": 0.9, "distinct_solutions": 0.3, "distinct_answers": 0.2}]}
    lines = markdown({"capabilities": {"logic": part}, "averaged": part,
                      "independence": {"change": {"logic": {"logic": 0.2}}}})
    assert "| weak | 30.0 | 30.0 |" in lines and "| ceiling - weak | 10.0 (< 20) | 10.0 (< 20) |" in lines
    assert "| RM kept right % (all %) | 80.0 (50.0) | 80.0 (50.0) |" in lines and "| logic | 20.0 |" in lines
    assert "- round 1: 40.0 | 90.0 | 30.0 | 20.0" in lines
    assert "| PGR full_weak_ft [95 % CI] | 0.50 [-0.25, 1.00] | 0.50 [-0.25, 1.00] |" in lines
    assert not any(line.startswith("| PGR rm two-stage") for line in lines)  # none measured
