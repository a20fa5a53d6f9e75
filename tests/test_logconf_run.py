"""The multi_capability recipe's logconf baseline end to end on tiny models (arithmetic and logic): the
weak teacher's logic answers become confidence-loss rows, logconf and plain CE train on them, both are
scored over the options on Ray, and the report pairs them (findings `logconf>plain_ce:*`)."""
from __future__ import annotations

import json

import yaml

from tests.conftest import long_test
from tests.tiny_run import build_tiny_capability_models, write_multicap_config
from w2s_ray.config import load_config


@long_test
def test_tiny_logconf_baseline_trains_both_students_and_reports_the_pair(tmp_path, ray_local):
    from w2s_ray.eval.report import write_report
    from w2s_ray.run.driver import run
    from w2s_ray.run.manifest import Manifest
    from w2s_ray.run.stage_io import read_output

    # The tiny weak model answers logic with a bare " unknown", never the "Verdict:" line the rows parse
    # (every answer would be quarantined); the tiny strong one writes the format, so it teaches here.
    strong = build_tiny_capability_models()[1]
    path = write_multicap_config(tmp_path / "run.yaml", tmp_path / "run", (strong, strong))
    raw = yaml.safe_load(path.read_text())
    raw["multi_capability"].update({"logconf": True, "independence": False, "bootstrap_rounds": 1, "rm": None})
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    run(config)
    manifest = Manifest.load(config.run_dir)
    done = manifest.stages()
    assert {"logconf/select", "logconf/train", "plain_ce/train", "logconf/eval", "plain_ce/eval"} <= set(done)
    select = manifest.record("logconf/select")
    assert select["rows_out"] >= 1 and select["metrics"]["unit"] == "solution"
    for key in ("logconf/eval", "plain_ce/eval"):
        rows = read_output(manifest.record(key)["outputs"]["rows"])
        assert {r["capability"] for r in rows} == {"logic"} and len(rows) == 5  # one test problem a level
        assert all(len(r["option_logprobs"]) == 3 and r["text"].startswith("Verdict: ") for r in rows)
        assert manifest.record(key)["metrics"]["accuracy"]["n"] == 5

    write_report(config.run_dir)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    found = {f["id"]: f for f in report["findings"]}
    assert found["logconf>plain_ce:logic"]["n_test"] == 5 and "logconf>plain_ce:all" in found
    assert report["capabilities"]["logic"]["models"]["logconf"]["n"] == 5
