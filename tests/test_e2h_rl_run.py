"""The easy_to_hard recipe's RL stage end to end on the tiny test models (long): one GRPO iteration
rewarded by the easy-trained PRM, on hard problems whose gold never reaches the rollouts; the
report's rl block and findings; the RL policy promoted; then a run that died mid-iteration (after
its advantages, before its train stage was recorded) resumes without redoing what finished."""
from __future__ import annotations

import json

from tests.conftest import long_test
from tests.test_easy_to_hard import w2s
from tests.tiny_run import write_e2h_config
from w2s_ray.run.manifest import MANIFEST_FILE, Manifest
from w2s_ray.run.stage_io import read_output

ITERATION = ["rl/prm/iter1/sample", "rl/prm/iter1/gold_audit", "rl/prm/iter1/advantages", "rl/prm/iter1/train",
             "rl/prm/iter1/eval", "rl/prm/iter1/summary"]


def _rows(manifest, key):
    return read_output(manifest.record(key)["outputs"]["rows"])  # a generate stage's rows are a parquet dataset


@long_test
def test_one_rl_iteration_on_the_tiny_models_reports_promotes_and_resumes_mid_iteration(tmp_path, tiny_models):
    run_dir = tmp_path / "run"
    path = write_e2h_config(tmp_path / "e2h-rl.yaml", run_dir, tiny_models[1], "tiny-e2h-rl",
                            n_policy_problems=16, n_prm_problems=8, prm_samples=2, n=2, prm_lr=1e-3, prm_epochs=1,
                            sgr_bounds=False, rl={"rewards": ["prm"], "iterations": 1, "problems_per_iteration": 4,
                                                  "group_size": 2, "lr": 1e-3})
    w2s("run", str(path))
    manifest = Manifest.load(run_dir)
    stages = manifest.stages()
    assert stages[-len(ITERATION):] == ITERATION

    # No gold in the rollouts the PRM rewarded, none upstream of the advantages and the train stage.
    rollouts = _rows(manifest, "rl/prm/iter1/sample")
    assert len(rollouts) == 4 * 2 and {r["level"] for r in rollouts} <= {4, 5}
    # (a column of None comes back from Ray Data's numpy batches as NaN)
    assert not any(isinstance(r["gold"], str) for r in rollouts) and "correct" not in rollouts[0]
    assert "step_scores" in rollouts[0]
    assert set(manifest.record("rl/prm/iter1/advantages")["inputs"]) == {
        "rollouts", "tokenizer", "reward", "supervision", "aggregate", "step_sep", "answer_step"}
    assert manifest.record("rl/prm/iter1/gold_audit")["metrics"]["gold_accuracy"] is not None
    grpo = _rows(manifest, "rl/prm/iter1/advantages")
    assert grpo and all(len(r["advantages"]) >= 1 for r in grpo)
    assert not {"gold", "correct", "has_gold", "solution"} & set(grpo[0])
    assert (run_dir / "rl" / "prm" / "iter1" / "train" / "model" / "model.safetensors").exists()

    report = json.loads((run_dir / "report.json").read_text())
    (it,) = report["rl"]["iterations"]
    assert it["reward"] == "prm" and it["supervision"] == "process" and it["iteration"] == 1
    assert it["weight_update"]["mode"] == "new_engine"  # the HF engine: a checkpoint load per stage
    assert set(it["test_acc_by_level"]) == {"1", "2", "3", "4", "5"} and it["mean_reward"] is not None
    assert "rl_prm>easy_sft_hard" in [f["id"] for f in report["findings"]]
    assert "## Easy-to-hard RL" in (run_dir / "report.md").read_text()
    latest = json.loads((run_dir / "serve" / "latest.json").read_text())
    assert "rl" in latest["model_id"]

    # The run died after the iteration's advantages: its train, eval and summary were never recorded.
    seconds = {key: manifest.record(key)["seconds"] for key in stages}
    data = json.loads((run_dir / MANIFEST_FILE).read_text())
    for key in ITERATION[3:]:
        del data["stages"][key]
    (run_dir / MANIFEST_FILE).write_text(json.dumps(data))
    w2s("resume", str(run_dir))
    again = Manifest.load(run_dir)
    assert again.stages()[:len(stages) - 3] == stages[:-3] and set(again.stages()) == set(stages)
    for key in stages[:-3]:  # every finished stage verified and resumed, none redone
        assert again.record(key)["seconds"] == seconds[key], key
    assert all(again.is_complete(key) for key in ITERATION[3:])
