"""The multi-capability recipe's selections in Ray Data equal the list functions on the same stages
(tests/test_recipe_pieces.py checks the pieces without Ray): full weak FT and one capability's take-all,
self-bootstrapping's own outputs, and the RM's top-fraction and threshold cuts; and a stage scored
in Ray Data (stages/score_data.py, the RM's scores and LightReasoner's contrast) holds the rows the
scorer gives without Ray, in order, with its sums. One Ray for the file: `make test-long`."""
from __future__ import annotations

import math

import pyarrow as pa
import pytest

from tests.conftest import long_test
from tests.test_recipe_data_ray import ray_started, stage_data  # noqa: F401 (a fixture)
from tests.test_recipe_pieces import scored_weak
from tests.test_select_data import selected

pytestmark = long_test


def _without_cut(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k != "cut"}


@pytest.mark.parametrize("rule", [{"top_fraction": 0.3}, {"threshold": 0.5}])
def test_the_rm_selection_equals_top_by_reward(ray_started, tmp_path, rule):  # noqa: F811
    from w2s_ray.recipes.multi_capability.selections import reward_cut_data
    from w2s_ray.select.rerank import top_by_reward

    rows = scored_weak(11, problems=40)
    whole = top_by_reward(rows, "reward", **rule)
    out, stats = selected(tmp_path, reward_cut_data(stage_data(tmp_path, "scored", rows), "reward", **rule))
    assert whole.kept and out == whole.rows and _without_cut(stats) == whole.stats()
    if "top_fraction" in rule:  # the cut recorded: the lowest score kept
        reward = {(r["problem_id"], r["model"], r["sample_index"] or 0): r["reward"] for r in rows}
        assert stats["cut"]["last_kept_score"] == min(reward[(k["problem_id"], k["source_model"], k["sample_index"])]
                                                      for k in whole.rows)


def test_own_outputs_and_one_capability_s_take_all_equal_the_list_path(ray_started, tmp_path):  # noqa: F811
    from w2s_ray.recipes.multi_capability.metrics import own_outputs
    from w2s_ray.recipes.multi_capability.selections import own_outputs_data
    from w2s_ray.run.manifest import StageResult
    from w2s_ray.select.full_weak import take_all
    from w2s_ray.stages.select_data import UpstreamData, take_all_data

    samples = [{**r, "role": "strong", "model": "student"} for r in scored_weak(12) if r["model"] == "weak-a"]
    out, stats = selected(tmp_path, own_outputs_data(stage_data(tmp_path, "samples", samples)))
    whole = own_outputs(samples)
    assert whole.dropped and out == whole.rows and stats == whole.stats()

    weak = [{**r, "capability": "logic" if int(r["problem_id"][1:]) % 3 else "facts",
             "sample_index": r["sample_index"] or 0} for r in scored_weak(13)]
    data = UpstreamData({"weak": StageResult(outputs={"rows": stage_data(tmp_path, "weak", weak).outputs[0]})})
    facts = sorted({r["problem_id"] for r in weak if r["capability"] == "facts"})
    out, stats = selected(tmp_path, take_all_data(data.joined(["weak"]).problems(facts)))
    whole = take_all([r for r in weak if r["capability"] == "facts"])
    assert out and out == whole.rows and stats == whole.stats()


def test_a_stage_scored_in_ray_data_holds_the_scorer_s_rows_in_order_with_its_sums(ray_started, tmp_path):  # noqa: F811
    from w2s_ray.recipes.light_reasoner.stages import _stop_tokens, _true_sum
    from w2s_ray.run.stage_io import read_output
    from w2s_ray.score.stage import ScorerSpec, score_rows
    from w2s_ray.stages.score_data import output_sums, score_upstream

    rows = [{"problem_id": f"p{i % 13:02d}", "model": "m", "sample_index": i // 13, "text": f"#### {i % 4}",
             "answer": str(i % 4), "gold": str(i % 3), "stop_token_id": float("nan") if i % 5 else 7.0}
            for i in range(91)][::-1]
    schema = pa.schema([("problem_id", pa.string()), ("model", pa.string()), ("sample_index", pa.int64()),
                        ("text", pa.string()), ("answer", pa.string()), ("gold", pa.string()),
                        ("stop_token_id", pa.float64())])
    output = score_upstream(tmp_path / "scored", stage_data(tmp_path, "rows", rows), schema,
                            [ScorerSpec(name="answer_check", batch_size=8)], ("problem_id", "sample_index"),
                            _stop_tokens)
    got = read_output(output)
    expected = sorted(score_rows([{**r, "stop_token_id": -1 if math.isnan(r["stop_token_id"]) else 7} for r in rows],
                                 ["answer_check"]), key=lambda r: (r["problem_id"], r["sample_index"]))
    assert [{k: r[k] for k in expected[0]} for r in got] == expected  # every row, scored, in order
    assert output_sums(output, {"right": _true_sum("correct")}) == {"right": sum(r["correct"] for r in expected)} \
        and 0 < sum(r["correct"] for r in expected) < len(rows)


def test_the_rm_selection_judged_in_the_workers_equals_the_list_path(ray_started, tmp_path):  # noqa: F811
    from w2s_ray.recipes.multi_capability.judge_data import judge_data
    from w2s_ray.recipes.multi_capability.metrics import judge_selection
    from w2s_ray.select.rerank import top_by_reward

    scored = [{**r, "capability": None if int(r["problem_id"][1:]) % 2 else "logic",
               "text": r["text"] if int(r["problem_id"][1:]) % 2 else "Verdict: yes"} for r in scored_weak(14)]
    gold = {f"p{p:02d}": str(p % 3) if p % 2 else "yes" if p % 4 else "no" for p in range(20)}
    kept = top_by_reward(scored, "reward", top_fraction=0.4).rows
    whole = judge_selection(kept, scored, gold)
    got = judge_data(stage_data(tmp_path, "kept", kept), stage_data(tmp_path, "scored", scored), gold)
    assert got == whole and whole["logic"]["right_kept"] and whole["arithmetic"]["right_all"]
