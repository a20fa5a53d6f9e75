"""Three RL iterations on the tiny models (long): two chains, the outcome RM's (reward orm, end to
end: its pairs, its training, its rollouts scored by it) and a planted easy-to-raise reward's
(tests/planted_reward.py, a user's own scorer: the share of "+" among a solution's operators), whose
mean reward rises from iteration 1 to 3. The run is killed in the planted chain's second train
stage and resumed: the stages that had finished are not run again, the rest is."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import long_test
from tests.train_fault import Fault, train_dies_at
from w2s_ray.config import load_config
from w2s_ray.run.stage_io import read_output

PLANTED = {"name": "tests.planted_reward:AdditionShare", "column": "addition_share"}


def _config(tmp_path: Path, tiny_models) -> Path:
    import yaml

    teacher = dict(engine="hf", max_tokens=24, dtype="float32", batch_size=32)
    config = {
        "name": "tiny-e2h-rl3", "recipe": "easy_to_hard", "run_dir": str(tmp_path / "run"),
        "ray": {"num_cpus": 2, "device": "cpu"},
        "data": {"source": "world", "seed": 0, "n_weak_train": 96, "n_strong_train": 8, "n_test_per_level": 2},
        "strong": {"name": "strong", "model": tiny_models[1], **teacher},
        "eval": {"strong_base_shots": 0, "max_tokens": 24},
        "train": {"num_workers": 1, "epochs": 1, "per_device_batch_size": 8, "max_length": 128, "lr": 1e-3,
                  "logging": "none"},
        # 16 easy problems x 4 samples: enough with a right and a wrong sample for the outcome RM's pairs
        "easy_to_hard": {"n_policy_problems": 16, "n_prm_problems": 16, "prm_samples": 4, "n": 2, "prm_lr": 1e-3,
                         "prm_epochs": 1, "sgr_bounds": False,
                         "rl": {"rewards": ["orm", "scorer"], "scorer": PLANTED, "iterations": 3,
                                "problems_per_iteration": 8, "group_size": 4, "lr": 2e-3, "orm_lr": 1e-3, "orm_epochs": 1}},
    }
    path = tmp_path / "e2h-rl3.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(manifest, key):
    return read_output(manifest.record(key)["outputs"]["rows"])


@long_test
def test_three_rl_iterations_raise_a_planted_reward_and_resume_after_a_kill_mid_iteration(
        tmp_path, tiny_models, ray_local, monkeypatch):
    from w2s_ray.eval.report import write_report
    from w2s_ray.run.driver import run
    from w2s_ray.run.manifest import Manifest

    config = load_config(_config(tmp_path, tiny_models))
    resume = train_dies_at(monkeypatch, "rl/scorer/iter2/train")
    with pytest.raises(Fault):
        run(config)
    first = Manifest.load(config.run_dir)
    done = first.stages()
    assert {"rl/scorer/iter1/summary", "rl/scorer/iter2/advantages"} <= set(done)
    assert "rl/scorer/iter2/train" not in done
    before = {key: first.record(key)["finished"] for key in done}

    resume()
    run(config)
    second = Manifest.load(config.run_dir)
    assert {key: second.record(key)["finished"] for key in done} == before  # none of them ran again
    rest = [f"rl/scorer/iter{k}/{part}" for k in (2, 3) for part in ("sample", "gold_audit", "advantages", "train",
                                                                      "eval", "summary")][3:]
    assert second.stages() == done + rest

    report = write_report(config.run_dir)
    by_chain = {}
    for it in report["rl"]["iterations"]:
        by_chain.setdefault(it["reward"], []).append(it)
    assert [it["iteration"] for it in by_chain["scorer"]] == [1, 2, 3]
    planted = [it["mean_reward"] for it in by_chain["scorer"]]
    print("planted reward by iteration", planted)
    assert planted[2] > planted[0] + 0.1, planted  # the policy learned to add (0.26, 0.72, 0.90 measured)

    from w2s_ray.eval.report import figure
    from w2s_ray.recipes.easy_to_hard.rl_plot import REWARD_LINE

    panel = next(ax for ax in figure(report).axes if ax.get_title().startswith("RL, scorer reward"))
    assert [list(line.get_ydata()) for line in panel.get_lines() if line.get_label() == REWARD_LINE] == [planted]

    # The outcome RM's chain end to end: pairs of a right and a wrong easy sample, its own training,
    # the rollouts (no gold) scored by it, and its rows in the report.
    pairs = second.record("rl/orm/select")
    assert pairs["rows_out"] >= 1 and "orm" in second.record("rl/orm/train")["outputs"]["model"]["path"]
    rollouts = _rows(second, "rl/orm/iter1/sample")
    assert rollouts and all(isinstance(r["reward"], float) for r in rollouts)
    assert not any(isinstance(r["gold"], str) for r in rollouts) and "correct" not in rollouts[0]
    assert [it["iteration"] for it in by_chain["orm"]] == [1, 2, 3]
    assert all(it["supervision"] == "outcome" and it["mean_reward"] is not None and it["test_acc"] is not None
               for it in by_chain["orm"])
    assert set(report["rl"]["final"]) == {"orm", "scorer"}
    ids = {f["id"] for f in report["findings"]}
    assert {"rl_orm>easy_sft_hard", "rl_scorer>easy_sft_hard"} <= ids
    markdown = (Path(config.run_dir) / "report.md").read_text()
    assert "RL (orm reward)" in markdown and "RL (scorer reward)" in markdown
    assert json.loads((Path(config.run_dir) / "serve" / "latest.json").read_text())["model_id"]
