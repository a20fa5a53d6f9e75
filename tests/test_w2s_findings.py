"""The w2s_reasoning report's findings on a synthetic manifest: the contract's keys, a verdict that
follows the data both ways, and "not run" with a reason where a model is missing."""
from __future__ import annotations

from w2s_ray.eval.pgr_interval import pgr_interval
from w2s_ray.recipes.w2s_reasoning.report import build
from w2s_ray.run.manifest import Manifest, StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.run.stage_tags import Tag

KEYS = {"id", "claim", "diff", "ci95", "n_test", "holds", "verdict"}
IDS = [f"t{i:03d}" for i in range(200)]
LEVEL = {pid: 1 + i % 5 for i, pid in enumerate(IDS)}


def _right(share, hard_share=None):
    """{problem: 0/1}: the first `share` of each level's problems right (levels 4-5: hard_share)."""
    out = {}
    for i, pid in enumerate(IDS):
        s = hard_share if hard_share is not None and LEVEL[pid] >= 4 else share
        out[pid] = float((i // 5) % 10 < 10 * s)
    return out


def _eval(manifest, key, right, tag):
    rows = [{"problem_id": pid, "correct": bool(v), "has_gold": True, "level": LEVEL[pid]} for pid, v in right.items()]
    run_stage(manifest, key, lambda: StageResult(outputs={"rows": write_stage(manifest.run_dir / key, rows)}), tag=tag)


def _run(tmp_path, full, last, stage2_hard, with_stage2=True, last_hard=0.4):
    manifest = Manifest.create(tmp_path, {"recipe": "w2s_reasoning"}, "h")
    weak, ceiling, full_right = _right(0.3), _right(1.0), _right(full)
    _eval(manifest, "baselines/full_weak_ft/eval", full_right, Tag("baseline", "full_weak_ft"))
    _eval(manifest, "round_1/eval", _right(0.1), Tag("student_eval", "round 1", round=1))
    _eval(manifest, "round_2/eval", _right(last, last_hard), Tag("student_eval", "round 2", round=2))
    if with_stage2:
        _eval(manifest, "stage2/eval", _right(last, stage2_hard), Tag("student_eval", "stage2"))
    common = {"students": {}, "baselines": {"full_weak_ft": {"pgr_ci": pgr_interval(full_right, weak, ceiling)}}}
    return {f["id"]: f for f in build(manifest, common)["findings"]}


def test_each_claim_holds_on_data_that_shows_it(tmp_path):
    found = _run(tmp_path, full=0.6, last=0.9, stage2_hard=0.8)
    assert set(found) == {"full_weak_ft_pgr", "stage1>full_weak_ft", "stage2>stage1_L45"}
    for f in found.values():
        assert KEYS <= set(f) and f["holds"] is True and f["verdict"] == "holds", f
    assert found["full_weak_ft_pgr"]["unit"] == "ratio" and abs(found["full_weak_ft_pgr"]["diff"] - 3 / 7) < 1e-9
    assert found["stage1>full_weak_ft"]["n_test"] == 200 and found["stage1>full_weak_ft"]["round"] == 2  # the last round
    # Levels 4-5 only: 80 problems, 0.8 - 0.4 right.
    assert found["stage2>stage1_L45"]["n_test"] == 80 and abs(found["stage2>stage1_L45"]["diff"] - 0.4) < 1e-9


def test_reversed_data_gives_a_reversed_verdict(tmp_path):
    found = _run(tmp_path, full=0.2, last=0.1, stage2_hard=0.0, last_hard=0.1)
    for f in found.values():
        assert f["holds"] is False and f["verdict"] == "reversed", f


def test_a_missing_model_is_not_run_with_its_reason(tmp_path):
    found = _run(tmp_path, full=0.6, last=0.9, stage2_hard=0.8, with_stage2=False)
    f = found["stage2>stage1_L45"]
    assert KEYS <= set(f) and f["holds"] is None and f["verdict"] == "not run" and "Stage II" in f["why"]
    assert found["stage1>full_weak_ft"]["holds"] is True
