"""Weak-to-Strong Reasoning's round 2 on tiny models, the authors' way (loop.weak_side "student",
loop.demos "fixed"): the round-1 student answers zero-shot as the new weak side, every k-shot prompt
shows one recorded set of weak demos, and each stage names every upstream output it read, so a
second run over the finished directory resumes every stage instead of refusing changed inputs."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.conftest import long_test
from tests.tiny_run import write_config
from w2s_ray.config import load_config

pytestmark = pytest.mark.slow


def _rows(manifest, key):
    return pq.read_table(manifest.record(key)["outputs"]["rows"]["path"]).to_pylist()


def test_round_two_reads_the_round_one_student_zero_shot_and_one_fixed_demo_set(w2s_two_rounds):
    from w2s_ray.run.driver import run

    path, manifest = w2s_two_rounds  # two rounds, the weak baseline and Stage II: tests/conftest.py
    rec = manifest.record

    demos = rec("stage1/demos")
    assert demos["metrics"]["seed"] == 42 and len(demos["metrics"]["ids"]) == 2  # strong.shots
    demo_sha = demos["outputs"]["rows"]["sha256"]
    for k in (1, 2):
        assert rec(f"round_{k}/generate_strong")["inputs"]["demos"] == demo_sha
    prompts = {r["prompt"].rsplit("Question:", 1)[0] for r in _rows(manifest, "round_1/generate_strong")}
    assert len(prompts) == 1  # the same demos before every question

    assert "round_1/generate_weak_side" not in manifest.stages()  # round 1: the weak teacher
    assert rec("round_1/select")["inputs"]["weak"] == rec("weak/weak/generate")["outputs"]["rows"]["sha256"]
    side = rec("round_2/generate_weak_side")
    assert side["inputs"]["checkpoint"] == rec("round_1/train")["outputs"]["model"]["sha256"]
    assert rec("round_2/select")["inputs"] == {"weak_side": side["outputs"]["rows"]["sha256"],
                                               "strong": rec("round_2/generate_strong")["outputs"]["rows"]["sha256"]}
    side_rows = _rows(manifest, "round_2/generate_weak_side")
    assert {r["model"] for r in side_rows} == {"student-round-1-zero-shot"}
    assert all(r["prompt"].count("Question:") == 1 for r in side_rows)  # zero-shot
    assert {r["source_model"] for r in _rows(manifest, "round_2/select")} == {"student-round-1-zero-shot"}

    again = run(load_config(path))  # every input recorded the same way: all resumed
    assert again.stages() == manifest.stages()


@long_test  # a second two-round run (~100-160 s), over make test's share; per-problem demos: test_generate_prompts.py
def test_ours_as_options_the_weak_teacher_every_round_and_demos_per_problem(tmp_path, tiny_models, ray_local):
    from w2s_ray.run.driver import run

    path = write_config(tmp_path / "run.yaml", tmp_path / "run", tiny_models, rounds=2, baselines=[],
                        weak_side="weak_teacher", demos="per_problem")
    manifest = run(load_config(path))
    assert not {"stage1/demos", "round_2/generate_weak_side"} & set(manifest.stages())
    weak_sha = manifest.record("weak/weak/generate")["outputs"]["rows"]["sha256"]
    assert manifest.record("round_2/select")["inputs"]["weak"] == weak_sha
    assert {r["source_model"] for r in _rows(manifest, "round_2/select")} == {"weak"}
    prompts = {r["prompt"].rsplit("Question:", 1)[0] for r in _rows(manifest, "round_1/generate_strong")}
    assert len(prompts) > 1  # each problem its own demos
