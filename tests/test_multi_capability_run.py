"""The multi_capability recipe end to end on tiny models that know two capabilities (arithmetic and
logic): a fault in the two-stage training stops the run, a resume redoes only what did not finish,
a third run finds every stage done, and the report has every capability, the matrix and the findings."""
from __future__ import annotations

import json

import pytest

from tests.conftest import long_test
from tests.train_fault import Fault, train_dies_at
from tests.tiny_run import TINY_CAPABILITIES, build_tiny_capability_models, write_multicap_config
from w2s_ray.config import load_config


@long_test
def test_tiny_multi_capability_run_resumes_and_reports_every_capability(tmp_path, ray_local, monkeypatch):
    from w2s_ray.eval.report import write_report
    from w2s_ray.run.driver import run
    from w2s_ray.run.manifest import Manifest
    from w2s_ray.run.stage_io import read_output
    from w2s_ray.stages import steps

    config = load_config(write_multicap_config(tmp_path / "run.yaml", tmp_path / "run", build_tiny_capability_models()))
    resume = train_dies_at(monkeypatch, "two_stage/selected/train")
    with pytest.raises(Fault):
        run(config)
    first = Manifest.load(config.run_dir)
    done = first.stages()
    assert "rm/select" in done and "two_stage/selected/train" not in done
    before = {key: first.record(key)["finished"] for key in done}

    resume()
    run(config)
    second = Manifest.load(config.run_dir)
    assert {key: second.record(key)["finished"] for key in done} == before
    assert second.stages() == done + ["two_stage/selected/train", "two_stage/eval"]

    def nothing_may_run(*_args, **_kwargs):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(steps, "train_objective", nothing_may_run)
    monkeypatch.setattr(steps, "generate", nothing_may_run)
    run(config)
    assert Manifest.load(config.run_dir).stages() == second.stages()

    # A mixed stage carries each row's capability (null for arithmetic), and each is checked by its own.
    rows = read_output(second.record("baselines/strong_base/eval")["outputs"]["rows"])
    assert {r.get("capability") for r in rows} == {None, "logic"} and len(rows) == 10

    write_report(config.run_dir)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert set(report["capabilities"]) == set(TINY_CAPABILITIES)
    for part in [*report["capabilities"].values(), report["averaged"]]:
        assert set(part["models"]) >= {"weak", "strong_base", "ceiling", "full_weak_ft", "only logic",
                                       "bootstrap round 2", "rm two-stage"}
        assert [r["round"] for r in part["bootstrap"]] == [1, 2]
        assert all(0 <= r["confidence"] <= 1 and 0 < r["distinct_solutions"] <= 1 for r in part["bootstrap"])
        assert part["rm_selection"]["kept"] <= part["rm_selection"]["solutions"]
    assert report["averaged"]["models"]["strong_base"]["n"] == 10
    assert set(report["independence"]["change"]) == set(TINY_CAPABILITIES)
    ids = [f["id"] for f in report["findings"]]
    assert {"independence:logic", "bootstrap_degrades:all", "rm_two_stage>full_weak_ft:arithmetic"} <= set(ids)
    assert all(f["verdict"] != "not run" for f in report["findings"])
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "## Capabilities" in markdown and "| rm two-stage |" in markdown

