"""What a run records of its machine (run/environment.py), and what the config fixes of it."""
from __future__ import annotations

import hashlib
import json

import torch

from w2s_ray.eval.report import _environment
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, train_strong_student
from w2s_ray.run.environment import PACKAGES, cpu_summary, differences, environment
from w2s_ray.run.manifest import Manifest
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.worker_runtime import prepare_worker_process

CPUINFO = """processor\t: 0
cpu family\t: 6
model\t\t: 207
model name\t: Some CPU @ 2.0GHz
stepping\t: 2
flags\t\t: fpu sse4_2 avx avx2 fma avx512f amx_tile
processor\t: 1
model name\t: Some CPU @ 2.0GHz
flags\t\t: fpu sse4_2 avx avx2 fma avx512f amx_tile
"""


def test_environment_records_versions_kernels_and_threads():
    env = environment()
    assert set(PACKAGES) <= set(env["packages"])
    assert env["packages"]["torch"] == torch.__version__
    assert env["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["torch"]["num_threads"] == torch.get_num_threads()
    if torch.backends.mkl.is_available():  # MKL's path as set (1: unpinned) and as it picks for this CPU
        assert env["torch"]["mkl_cbwr_branch"] is not None and env["torch"]["mkl_auto_branch"] is not None
    assert "OMP_NUM_THREADS" in env["env"] and "ATEN_CPU_CAPABILITY" in env["env"]
    json.dumps(env)  # it goes into the manifest as it is


def test_cpu_summary_reads_model_and_the_kernel_flags_only():
    summary = cpu_summary(CPUINFO)
    assert summary == {"model": "Some CPU @ 2.0GHz", "isa_flags": ["sse4_2", "avx", "avx2", "fma", "avx512f",
                                                                    "amx_tile"],
                       "family": "6", "model_number": "207", "stepping": "2"}


def test_manifest_notes_an_environment_once_and_a_changed_one_again(tmp_path):
    manifest = Manifest.create(tmp_path, {"name": "x"}, "h")
    env = environment()
    manifest.note_environment(env)
    manifest.note_environment(env)  # a resume on the same machine
    assert len(Manifest.load(tmp_path).environments()) == 1
    assert _environment(Manifest.load(tmp_path))["changed"] == []
    moved = {**env, "cores": env["cores"] + 6, "torch": {**env["torch"], "cpu_capability": "AVX2"}}
    manifest.note_environment(moved)  # resumed on another machine
    reported = _environment(Manifest.load(tmp_path))
    assert reported["opens_recorded"] == 2 and reported["cores"] == env["cores"] + 6
    assert reported["changed"] == ["cores", "torch.cpu_capability"]


def test_differences_are_dotted_keys():
    assert differences({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 5}}) == ["b.c", "b.d"]


def test_train_threads_come_from_the_config_not_the_machine():
    assert TrainConfig().cpu_threads is None
    config = TrainConfig(cpu_threads=1)
    before = torch.get_num_threads()
    try:
        prepare_worker_process("cpu", "/tmp", None, config.cpu_threads)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_tiny_student_build_is_the_same_at_the_same_threads_and_records_them(tmp_path):
    """Seeded init and data order: at one thread count the tiny student's weights repeat exactly, and
    the build records its threads and kernels in training.json. Another thread count may round
    differently: on an AVX512 machine 1 and 2 threads gave other weights (measured 2026-12-06), on an
    AVX2 one the same; builds run at a fixed count (build_strong_student's threads=1) for that reason."""
    recipe = DEFAULT_STUDENTS["world-student-tiny"]
    for threads in (1, 2):
        digests = []
        for attempt in range(2):
            out = tmp_path / f"{threads}-{attempt}"
            out.mkdir()
            train_strong_student(recipe, out, threads=threads)
            digests.append(hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest())
            report = json.loads((out / "training.json").read_text())
            assert report["torch_threads"] == threads
            assert report["environment"]["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert digests[0] == digests[1], f"{threads} thread(s): two builds of one recipe differ"


def test_the_report_names_mkl_s_path_and_a_pin():
    from w2s_ray.eval.report import _mkl_path, render_markdown

    env = environment()
    assert _mkl_path({"mkl_cbwr_branch": 1, "mkl_auto_branch": 14}) == "MKL branch 14 (its pick), "
    assert _mkl_path({"mkl_cbwr_branch": 10, "mkl_auto_branch": 14}) == "MKL branch 10 (pinned), "
    assert _mkl_path({"cpu_capability": "AVX512"}) == ""  # a run recorded before MKL's branch was
    pinned = {**env, "torch": {**env["torch"], "mkl_cbwr_branch": 10}, "env": {**env["env"], "W2S_CPU_KERNELS": "avx2"},
              "changed": []}
    report = {"run": "r", "recipe": "w2s_reasoning", "teachers": {}, "baselines": {}, "rounds": [], "stage_seconds": {},
              "throughput": {}, "environment": pinned}
    text = render_markdown(report)
    assert "MKL branch 10 (pinned)" in text and "CPU kernels pinned: avx2." in text
