"""The easy_to_hard report's findings on a synthetic manifest: the contract's keys, the reranking claims
paired over the hard levels' problems only, SGR's interval over the same problems, verdicts that follow
the data both ways, and "not run" with a reason where the run did not measure a claim."""
from __future__ import annotations

import pytest

from w2s_ray.eval.report import build_report, render_markdown
from w2s_ray.recipes.easy_to_hard.report import build
from w2s_ray.run.manifest import Manifest, StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.run.stage_tags import Tag

KEYS = {"id", "claim", "diff", "ci95", "n_test", "holds", "verdict"}
IDS = [f"t{i:03d}" for i in range(300)]
LEVEL = {pid: 1 + i % 5 for i, pid in enumerate(IDS)}
COMMON = {"hard_levels": [4, 5], "aggregate": "prm_min", "n_unscored_samples": 5}


def _right(share, hard_share):
    """{problem: 0/1}: `share` of each easy level's problems right, `hard_share` of levels 4-5's."""
    return {pid: float((i // 5) % 10 < 10 * (hard_share if LEVEL[pid] >= 4 else share)) for i, pid in enumerate(IDS)}


def _stage(manifest, key, rows, tag, metrics=None):
    run_stage(manifest, key, lambda: StageResult(outputs={"rows": write_stage(manifest.run_dir / key, rows)},
                                                 metrics=metrics or {}), tag=tag)


def _eval(manifest, key, right, tag):
    rows = [{"problem_id": pid, "correct": bool(v), "has_gold": True, "level": LEVEL[pid]} for pid, v in right.items()]
    by_level = {str(lvl): sum(right[p] for p in IDS if LEVEL[p] == lvl) / 60 for lvl in range(1, 6)}
    _stage(manifest, key, rows, tag, {"accuracy": {"acc": sum(right.values()) / len(right), "n": len(right),
                                                   "acc_by_level": by_level}})


def _run(tmp_path, weighted, best, majority=0.4, easy_hard=0.5, bound_hard=0.8, e2h=None, rerank=True):
    config = {"name": "e2h", "recipe": "easy_to_hard", "weak": [], "easy_to_hard": e2h or {}}
    manifest = Manifest.create(tmp_path, config, "h")
    _eval(manifest, "policy/eval", _right(0.9, easy_hard), Tag("student_eval", "easy_sft"))
    if (e2h or {}).get("sgr_bounds", True):
        label = "all_levels_sft" if (e2h or {}).get("sgr_bound") == "all_levels" else "hard_sft"
        _eval(manifest, "baselines/strong_base/eval", _right(0.5, 0.2), Tag("baseline", "strong_base"))
        _eval(manifest, f"baselines/{label}/eval", _right(0.9, bound_hard), Tag("baseline", label))
    if rerank:
        picks = [{"problem_id": pid, "model": "policy", "level": LEVEL[pid], "answer": "1", "correct": bool(v),
                  "n": 8, "method": method}
                 for method, share in (("majority", majority), ("best_of_n", best), ("weighted", weighted))
                 for pid, v in _right(0.9, share).items()]
        rerank_section = {"majority": {"acc": 0.5, "acc_by_level": {"4": majority, "5": majority}, "n": 300}}
        _stage(manifest, "rerank/report", picks, Tag("report", "easy_to_hard"),
               {"report": {**COMMON, "rerank": rerank_section}})
    return manifest


def _found(manifest, common=COMMON):
    return {f["id"]: f for f in build(manifest, common)["findings"]}


def test_each_claim_holds_on_data_that_shows_it(tmp_path):
    found = _found(_run(tmp_path, weighted=0.7, best=0.6))
    assert set(found) == {"prm_weighted>majority_hard", "best_of_n>=majority_hard", "easy_sft_sgr"}
    for f in found.values():
        assert KEYS <= set(f) and f["holds"] is True and f["verdict"] == "holds", f
        assert f["n_test"] == 120 and f["levels"] == [4, 5]  # levels 4-5 of 300 problems; easy ones never count
    assert found["prm_weighted>majority_hard"]["diff"] == pytest.approx(0.7 - 0.4)
    assert found["best_of_n>=majority_hard"]["diff"] == pytest.approx(0.6 - 0.4)
    assert found["best_of_n>=majority_hard"]["n_unscored_samples"] == 5
    sgr = found["easy_sft_sgr"]
    assert sgr["unit"] == "ratio" and sgr["diff"] == pytest.approx((0.5 - 0.2) / (0.8 - 0.2))
    assert sgr["ci95"][0] < sgr["diff"] < sgr["ci95"][1] and sgr["undefined_draws"] == 0


def test_reversed_data_gives_a_reversed_verdict(tmp_path):
    found = _found(_run(tmp_path, weighted=0.1, best=0.0, majority=0.6, easy_hard=0.0))
    for f in found.values():
        assert f["holds"] is False and f["verdict"] == "reversed", f
    assert found["best_of_n>=majority_hard"]["diff"] == pytest.approx(-0.6)


def test_equal_rerankings_are_not_distinguishable(tmp_path):
    found = _found(_run(tmp_path, weighted=0.4, best=0.4))
    assert found["prm_weighted>majority_hard"]["diff"] == 0 and found["best_of_n>=majority_hard"]["holds"] is False
    assert found["prm_weighted>majority_hard"]["verdict"] == "not distinguishable"


@pytest.mark.parametrize("e2h, why", [({"sgr_bounds": False}, "sgr_bounds is false"),
                                      ({"sgr_bound": "all_levels"}, "not SGR's hard-trained model")])
def test_sgr_is_not_run_without_its_bounds_or_against_an_all_levels_bound(tmp_path, e2h, why):
    f = _found(_run(tmp_path, weighted=0.7, best=0.6, e2h=e2h))["easy_sft_sgr"]
    assert KEYS <= set(f) and f["holds"] is None and f["verdict"] == "not run" and why in f["why"]


def test_no_gap_to_recover_and_no_rerank_stage_are_not_run_with_their_reasons(tmp_path):
    found = _found(_run(tmp_path, weighted=0.7, best=0.6, bound_hard=0.2, rerank=False), common={})
    assert found["easy_sft_sgr"]["verdict"] == "not run" and "no gap to recover" in found["easy_sft_sgr"]["why"]
    for id_ in ("prm_weighted>majority_hard", "best_of_n>=majority_hard"):
        assert found[id_]["verdict"] == "not run" and "rerank report stage has not run" in found[id_]["why"]


def test_the_shared_report_carries_and_renders_them(tmp_path):
    manifest = _run(tmp_path, weighted=0.7, best=0.6)
    report = build_report(manifest.run_dir)
    assert [f["id"] for f in report["findings"]] == ["prm_weighted>majority_hard", "best_of_n>=majority_hard",
                                                     "easy_sft_sgr"]
    assert report["hard_levels"] == [4, 5] and report["baselines"]["hard_sft"]["acc_by_level"][4] == 0.8
    text = render_markdown(report)  # the baselines' int levels beside the rerank section's JSON keys
    assert "| easy-SFT majority | 50.0 |" in text and "| hard_sft |" in text
    assert "| easy_sft_sgr |" in text and "+0.50 [" in text  # SGR as a ratio, not in points


def test_report_rows_show_the_policy_and_each_reranking():
    from w2s_ray.recipes.easy_to_hard.report import rows

    acc = {"acc": 0.5, "acc_by_level": {"4": 0.5}}
    report = {"students": {"easy_sft": acc}, "rerank": {"majority": acc, "best_of_n": acc, "weighted": acc}}
    assert [name for name, _ in rows(report)] == ["easy-SFT policy", "easy-SFT majority", "easy-SFT best_of_n",
                                                  "easy-SFT weighted"]
    assert rows({"students": {}}) == []
    assert rows(report)[1][1]["acc_by_level"] == {4: 0.5}  # int levels, as the baselines' rows have them


@pytest.mark.parametrize("e2h, bound", [({}, "hard_sft"), ({"sgr_bound": "all_levels"}, "all_levels_sft")])
def test_w2s_compare_shows_the_sgr_bound_beside_the_policy_and_its_rerankings(tmp_path, e2h, bound):
    from w2s_ray.eval.compare import compare_rows, write_compare

    manifest = _run(tmp_path / "run", weighted=0.7, best=0.6, e2h=e2h)
    rows = {r["model"]: r for r in compare_rows(manifest.run_dir)}
    assert list(rows) == ["easy-SFT policy", "easy-SFT majority", bound]  # the bound: SFT on gold, under its label
    other = {"hard_sft", "all_levels_sft"} - {bound}
    assert not other & set(rows)  # only the bound this run trained
    assert rows[bound]["acc_by_level"][4] == rows[bound]["acc_by_level"][5] == 0.8  # _run's bound_hard
    assert rows[bound]["acc_by_level"][1] == 0.9 and rows[bound]["run"] == "e2h"
    table = write_compare([str(manifest.run_dir)], tmp_path / "out")
    assert f"| e2h | {bound} | 86.0 | 90 | 90 | 90 | 80 | 80 |" in table
