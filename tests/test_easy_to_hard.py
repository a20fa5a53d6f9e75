"""The easy_to_hard recipe: its config section, SGR and the rerank report section on hand-made
accuracies (fast), and a tiny run end to end that then resumes every stage without redoing it (long)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import long_test, shell_env
from w2s_ray.config import RunConfig, load_config
from w2s_ray.recipes.easy_to_hard.config import SGR_BOUND_LABELS, EasyToHardConfig, sgr_bound_problems
from w2s_ray.recipes.easy_to_hard.report import hard_accuracy, rerank_report, sgr
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_stage

BASE = {"name": "t", "recipe": "easy_to_hard", "strong": {"name": "s", "model": "m"}}


def test_the_section_belongs_to_its_recipe_and_needs_no_weak_teacher():
    config = RunConfig.model_validate({**BASE, "easy_to_hard": {"n": 4}})
    assert config.weak == [] and config.easy_to_hard.n == 4
    with pytest.raises(ValueError, match="belongs to recipe 'easy_to_hard'"):
        RunConfig.model_validate({**BASE, "recipe": "w2s_reasoning", "weak": [{"name": "w", "model": "m"}],
                                  "easy_to_hard": {}})
    with pytest.raises(ValueError, match="needs at least one weak teacher"):
        RunConfig.model_validate({**BASE, "recipe": "w2s_reasoning"})
    with pytest.raises(ValueError, match=r"levels \[3\] are both easy and hard"):
        RunConfig.model_validate({**BASE, "easy_to_hard": {"hard_levels": [3, 4]}})


def test_the_demo_config_loads():
    config = load_config("configs/demo-e2h.yaml")
    assert config.recipe == "easy_to_hard" and config.strong.model == "world-student"


def acc(by_level, n=10):
    return {"acc": sum(by_level.values()) / len(by_level), "acc_by_level": by_level,
            "n_by_level": {level: n for level in by_level}}


def test_sgr_on_hard_levels_and_the_rerank_section():
    base, easy, ceiling = acc({1: 0.8, 4: 0.1, 5: 0.1}), acc({1: 0.9, 4: 0.3, 5: 0.2}), acc({1: 0.9, 4: 0.5, 5: 0.3})
    assert hard_accuracy(easy, [4, 5]) == pytest.approx(0.25)
    assert sgr(0.25, 0.1, 0.4) == pytest.approx(0.5) and sgr(0.3, 0.4, 0.4) is None
    # Two hard problems: majority picks the wrong 7 on "h"; the PRM-weighted vote the right 9.
    samples = [{"problem_id": "h", "model": "p", "sample_index": i, "answer": a, "prm_min": s, "correct": a == "9",
                "level": 4} for i, (a, s) in enumerate([("7", 0.1), ("9", 0.9), ("7", 0.2)])]
    samples += [{"problem_id": "e", "model": "p", "sample_index": 0, "answer": "2", "prm_min": 0.5, "correct": True,
                 "level": 1}]
    report = rerank_report(samples, {"easy_sft": easy, "strong_base": base, "hard_sft": ceiling}, "prm_min", [4, 5])
    assert report["rerank"]["majority"]["acc_by_level"] == {"1": 1.0, "4": 0.0}
    assert report["rerank"]["weighted"]["acc_by_level"] == {"1": 1.0, "4": 1.0}
    assert report["sgr"] == pytest.approx((0.25 - 0.1) / (0.4 - 0.1))
    assert report["sgr_bound"] == {"trained_on": "hard_levels", "label": "hard_sft"}
    # a reranked policy's ratio is named as such, never "sgr": majority is 0 right on the hard levels
    assert report["rerank"]["majority"]["reranked_sgr"] == pytest.approx((0.0 - 0.1) / (0.4 - 0.1))
    assert "sgr" not in report["rerank"]["majority"]
    assert report["n_picks"] == 6 and {p["method"] for p in report["picks"]} == {"majority", "best_of_n", "weighted"}
    assert report["n_unscored_samples"] == 0
    unscored = rerank_report([*samples, {**samples[0], "sample_index": 3, "prm_min": float("nan")}],
                             {"easy_sft": easy}, "prm_min", [4, 5])
    assert unscored["n_unscored_samples"] == 1
    # the all-levels SFT is not SGR's hard-trained bound: its ratio never appears as "sgr"
    ours = rerank_report(samples, {"easy_sft": easy, "strong_base": base, "all_levels_sft": ceiling}, "prm_min",
                         [4, 5], sgr_bound="all_levels")
    assert "sgr" not in ours and ours["sgr_vs_all_levels_sft"] == pytest.approx(0.5)
    assert "reranked_sgr_vs_all_levels_sft" in ours["rerank"]["weighted"]
    assert ours["sgr_bound"] == {"trained_on": "all_levels", "label": "all_levels_sft"}
    # a bound the report was not given (the hard-levels one here) gives no SGR, not the other bound's
    assert rerank_report(samples, {"easy_sft": easy, "strong_base": base, "all_levels_sft": ceiling}, "prm_min",
                         [4, 5])["sgr"] is None


def test_the_sgr_bound_trains_on_hard_levels_by_default_and_on_every_level_as_an_option():
    from w2s_ray.data.schema import Problem

    split = [Problem(id=f"p{i}", question="q", gold="1", solution=None, level=1 + i % 5, source="t") for i in range(40)]
    hard = sgr_bound_problems(split, EasyToHardConfig(n_policy_problems=6))
    assert len(hard) == 6 and {p.level for p in hard} == {4, 5}  # Hase et al.'s hard-trained model
    assert [p.id for p in hard] == ["p3", "p4", "p8", "p9", "p13", "p14"]
    every = sgr_bound_problems(split, EasyToHardConfig(n_policy_problems=6, sgr_bound="all_levels"))
    assert [p.id for p in every] == [f"p{i}" for i in range(6)] and {p.level for p in every} == {1, 2, 3, 4, 5}
    # fewer hard problems than the policy got: the bound gets what there is, never an easy one
    assert {p.level for p in sgr_bound_problems(split, EasyToHardConfig(n_policy_problems=100))} == {4, 5}
    assert SGR_BOUND_LABELS == {"hard_levels": "hard_sft", "all_levels": "all_levels_sft"}


def w2s(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", "w2s_ray.cli", *args], capture_output=True, text=True,
                          env=shell_env(PYTHONUNBUFFERED="1"), timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


@long_test
def test_a_tiny_easy_to_hard_run_reports_and_resumes(tmp_path, tiny_models):
    teacher = dict(engine="hf", max_tokens=24, dtype="float32", batch_size=32)
    run_dir = tmp_path / "run"
    config = {
        "name": "tiny-e2h", "recipe": "easy_to_hard", "run_dir": str(run_dir), "ray": {"num_cpus": 2, "device": "cpu"},
        "data": {"source": "world", "seed": 0, "n_weak_train": 96, "n_strong_train": 8, "n_test_per_level": 2},
        "strong": {"name": "strong", "model": tiny_models[1], **teacher},
        "eval": {"strong_base_shots": 0, "max_tokens": 24},
        "train": {"num_workers": 1, "epochs": 1, "per_device_batch_size": 8, "max_length": 128, "lr": 1e-3,
                  "logging": "none"},
        "easy_to_hard": {"n_policy_problems": 16, "n_prm_problems": 8, "prm_samples": 2, "n": 3,
                         "prm_lr": 1e-3, "prm_epochs": 1, "mc_rollouts": 2, "mc_solutions": 2},
    }
    path = tmp_path / "e2h.yaml"
    path.write_text(yaml.safe_dump(config))
    w2s("run", str(path))
    manifest = Manifest.load(run_dir)
    stages = manifest.stages()
    mc = [key for key in stages if key.startswith("prm_auroc/mc/rollouts_")]
    assert stages == ["policy/select", "policy/train", "policy/eval", "baselines/strong_base/eval",
                      "baselines/hard_sft/select", "baselines/hard_sft/train", "baselines/hard_sft/eval",
                      "prm/sample", "prm/labels", "prm/train", "rerank/sample", *mc, "prm_auroc/mc/labels",
                      "rerank/report"]
    report = json.loads((run_dir / "report.json").read_text())
    for method in ("majority", "best_of_n", "weighted"):
        assert set(report["rerank"][method]["acc_by_level"]) == {"1", "2", "3", "4", "5"}
    assert "sgr" in report and report["baselines"]["hard_sft"] is not None and report["baselines"]["ceiling"] is None
    assert set(report["prm_step_auroc"]) == {"auroc", "n_steps", "n_negative", "n_solutions"}
    for part in ("easy", "hard"):  # held-out test samples, labelled as the PRM's training data
        assert report[f"prm_step_auroc_{part}"]["labels"] == "gold"
        assert report[f"prm_step_auroc_{part}"]["n_solutions"] >= 0
    assert "step AUROC on held-out test samples" in (run_dir / "report.md").read_text()
    # SGR's bound learned from hard levels only (Hase et al.'s hard-trained model), as many as the policy
    out = manifest.record("baselines/hard_sft/select")["outputs"]["rows"]
    bound_rows = read_stage(Path(out["path"]).parent, out)
    assert bound_rows and {r["level"] for r in bound_rows} <= {4, 5} and len(bound_rows) <= 16
    assert [f["id"] for f in report["findings"]] == ["prm_weighted>majority_hard", "best_of_n>=majority_hard",
                                                     "easy_sft_sgr"]
    assert all(f["n_test"] in (0, 4) for f in report["findings"])  # 2 problems a level, levels 4-5
    samples = manifest.record("rerank/sample")
    assert samples["rows_out"] == 10 * 3  # 2 test problems x 5 levels, 3 samples each
    assert json.loads((run_dir / "prm" / "train" / "model" / "config.json").read_text())["architectures"] == [
        "LlamaForTokenClassification"]
    seconds = {key: manifest.record(key)["seconds"] for key in stages}
    w2s("resume", str(run_dir))  # every stage finished: each is verified and resumed, none redone
    again = Manifest.load(run_dir)
    assert again.stages() == stages and {key: again.record(key)["seconds"] for key in stages} == seconds


def test_auroc_and_the_step_auroc_join():
    from w2s_ray.eval.auroc import auroc
    from w2s_ray.recipes.easy_to_hard.report import step_auroc

    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75 and auroc([0.5, 0.5], [0, 1]) == 0.5
    assert auroc([0.2, 0.3], [1, 1]) is None
    samples = [{"problem_id": "p", "model": "m", "sample_index": 0, "step_scores": [0.9, 0.2, 0.1]},
               {"problem_id": "p", "model": "m", "sample_index": 1, "step_scores": [0.8, 0.7]}]
    labels = [{"problem_id": "p", "source_model": "m", "sample_index": 0, "labels": [1, 0]},  # stops at the error
              {"problem_id": "p", "source_model": "m", "sample_index": 1, "labels": [1, 1]}]
    assert step_auroc(samples, labels) == {"auroc": 1.0, "n_steps": 4, "n_negative": 1, "n_solutions": 2}


def test_report_md_shows_the_prms_easy_auroc_beside_the_hard_one():
    from w2s_ray.recipes.easy_to_hard.report import markdown

    assert markdown({}) == []
    lines = "\n".join(markdown({
        "prm_step_auroc_easy": {"auroc": 0.91, "n_steps": 40, "n_negative": 9, "n_solutions": 12, "labels": "gold"},
        "prm_step_auroc_hard": {"auroc": None, "n_steps": 3, "n_negative": 0, "n_solutions": 1, "labels": "gold"},
        "prm_step_auroc": {"auroc": 0.55, "n_steps": 20, "n_negative": 5, "n_solutions": 4}}))
    assert "| easy levels | gold | 0.91 (40 steps, 9 wrong) |" in lines
    assert "| hard levels | gold | n/a |" in lines and "| hard levels | monte_carlo | 0.55" in lines
