"""ray.cpu_kernels (run/kernels.py): a pinned process computes with the pin's kernels whatever this CPU
would pick, the pin reaches Ray workers, and what it changes is hashed (config, model cache)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from w2s_ray.config import RunConfig
from w2s_ray.models.cache import cached_model
from w2s_ray.raycluster.runtime import PIN_CHECK_HOOK, driver_env_vars, driver_runtime_env
from w2s_ray.run.kernels import (KERNEL_PINS, PIN_VAR, PIN_VARIABLES, KernelPinError, check_pinned, pin_env,
                                 pin_kernels)


# A child process: optionally pin after `import torch` (as a w2s driver does), build the tiny student
# at one thread, print what it computed with.
CHILD = textwrap.dedent("""
    import hashlib, json, sys, tempfile
    from pathlib import Path
    import torch
    from w2s_ray.run.kernels import kernels_in_effect, pin_kernels
    if sys.argv[1] != "-":
        pin_kernels(sys.argv[1])
    sha = None
    if sys.argv[2] == "build":
        from w2s_ray.models.strong_student import DEFAULT_STUDENTS, train_strong_student
        with tempfile.TemporaryDirectory() as d:
            train_strong_student(DEFAULT_STUDENTS["world-student-tiny"], Path(d), threads=1)
            sha = hashlib.sha256((Path(d) / "model.safetensors").read_bytes()).hexdigest()
    print(json.dumps({"sha": sha, "kernels": kernels_in_effect()}))
""")


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    return {**env, **extra}


def _child(pin: str, env: dict, what: str = "build") -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, pin, what], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_pin_set_in_the_driver_computes_what_the_same_pin_from_the_shell_does():
    """pin_kernels after `import torch` must take: the build equals one whose environment had the
    pin's variables from the start, and runs the pin's ATen kernels and MKL path. On a CPU that
    would pick other kernels (this machine: AVX512), the unpinned build differs."""
    runs = {"pinned": ("avx2", _clean_env()), "from_shell": ("-", _clean_env(**KERNEL_PINS["avx2"])),
            "native": ("-", _clean_env())}
    with ThreadPoolExecutor(len(runs)) as pool:  # three processes, one torch thread each
        futures = {name: pool.submit(_child, *args) for name, args in runs.items()}
        pinned, from_shell, native = (futures[name].result() for name in runs)
    assert pinned["kernels"][0] == "AVX2" and pinned["kernels"][1] in (None, 10)
    assert pinned["sha"] == from_shell["sha"]
    if native["kernels"] != pinned["kernels"]:
        assert native["sha"] != pinned["sha"], "other kernels, yet the same weights: the pin would not matter"
    portable = _child("portable", _clean_env(), "kernels")
    assert portable["kernels"][0] == "DEFAULT" and portable["kernels"][1] in (None, 3)


def test_a_pin_after_torch_chose_its_kernels_is_refused():
    code = ("import torch; x = torch.randn(64, 64); (x @ x).exp().sum()\n"
            "from w2s_ray.run.kernels import KernelPinError, kernels_in_effect, pin_kernels\n"
            "native = kernels_in_effect()\n"
            "try:\n    pin_kernels('portable')\nexcept KernelPinError as e:\n    print('refused', native, e)\n"
            "else:\n    print('taken', native)")
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # Every x86-64 CPU this runs on picks vectorised kernels natively, so 'portable' (scalar) differs.
    assert out.stdout.startswith("refused"), out.stdout
    assert "before the pin was set" in out.stdout and "ATEN_CPU_CAPABILITY" in out.stdout


def test_a_pin_that_clashes_with_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    with pytest.raises(KernelPinError, match="ATEN_CPU_CAPABILITY.*avx512"):
        pin_kernels("avx2")
    assert os.environ.get(PIN_VAR) is None  # nothing set on a refusal


def test_native_sets_nothing_and_an_unknown_pin_is_an_error():
    assert pin_env("native") == {}
    assert pin_env("avx2")[PIN_VAR] == "avx2"
    with pytest.raises(ValueError, match="cpu_kernels"):
        pin_env("avx512")


def test_a_worker_without_the_pin_s_kernels_is_refused(monkeypatch):
    """A process told it runs under a pin (W2S_CPU_KERNELS) whose torch runs other kernels refuses
    to compute: here the pytest process, which chose its kernels unpinned."""
    from w2s_ray.run.kernels import kernels_in_effect

    monkeypatch.setenv(PIN_VAR, "portable")
    if kernels_in_effect()[0] == "DEFAULT":
        pytest.skip("this torch runs scalar kernels natively")
    with pytest.raises(KernelPinError, match="portable"):
        check_pinned()


def test_the_pin_is_hashed_only_when_set():
    base = dict(weak=[{"name": "w", "model": "m"}], strong={"name": "s", "model": "m"})
    native = RunConfig(**base)
    assert RunConfig(**base, ray={"cpu_kernels": "native"}).config_hash() == native.config_hash()
    assert RunConfig(**base, ray={"cpu_kernels": "avx2"}).config_hash() != native.config_hash()
    with pytest.raises(ValueError):
        RunConfig(**base, ray={"cpu_kernels": "avx512"})


def test_a_pinned_build_has_its_own_cache_entry(tmp_path, monkeypatch):
    def build(out):
        (out / "weights").write_text(os.environ.get(PIN_VAR, "native"))

    native = cached_model("k", {"a": 1}, build, tmp_path)
    monkeypatch.setenv(PIN_VAR, "avx2")
    pinned = cached_model("k", {"a": 1}, build, tmp_path)
    assert pinned != native and (pinned / "weights").read_text() == "avx2"
    assert json.loads((pinned / "recipe.json").read_text())["recipe"]["cpu_kernels"] == "avx2"
    monkeypatch.delenv(PIN_VAR)
    assert cached_model("k", {"a": 1}, build, tmp_path) == native  # a native key is as it was


def test_the_pin_goes_to_every_worker_through_the_runtime_env(monkeypatch):
    for key in PIN_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    assert not set(driver_env_vars(None)) & PIN_VARIABLES
    monkeypatch.setenv(PIN_VAR, "avx2")
    assert driver_env_vars("ray://elsewhere:10001").items() >= pin_env("avx2").items()


def test_a_pinned_run_checks_every_worker_at_start_unless_the_job_brings_its_own_hook(monkeypatch):
    from ray.runtime_env.runtime_env import _merge_runtime_env  # what Ray does to a job's and init's

    for key in PIN_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert "worker_process_setup_hook" not in driver_runtime_env(None)  # native: no torch import per worker
    monkeypatch.setenv(PIN_VAR, "avx2")
    assert driver_runtime_env(None)["worker_process_setup_hook"] == PIN_CHECK_HOOK
    job = {"worker_process_setup_hook": "site_hooks.setup", "env_vars": {"HF_HOME": "/data/hf"}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": job}))
    mine = driver_runtime_env("auto")
    assert "worker_process_setup_hook" not in mine
    assert _merge_runtime_env(job, mine)["worker_process_setup_hook"] == "site_hooks.setup"


# In a process of its own: the session's Ray (ray_local) was started unpinned, and a test that starts
# that Ray early changes what later tests that expect no Ray see.
RAY_CHILD = textwrap.dedent("""
    import json
    from w2s_ray.run.kernels import pin_kernels
    pin_kernels("avx2")  # as open_run does, before Ray starts
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray
    ray = init_ray(num_cpus=1)
    try:
        @ray.remote(num_cpus=0.5)
        def kernels():
            from w2s_ray.run.kernels import check_pinned, kernels_in_effect
            check_pinned()
            return kernels_in_effect()
        print(json.dumps(ray.get(kernels.remote(), timeout=300)))

        # A worker whose environment lost the pin (as a runtime_env that overrides it would) is refused
        # by the setup hook before it runs anything: the actor below never calls check_pinned itself.
        @ray.remote(num_cpus=0.5, max_restarts=0,
                    runtime_env={"env_vars": {"ATEN_CPU_CAPABILITY": "default"}})
        class Unpinned:
            def kernels(self):
                from w2s_ray.run.kernels import kernels_in_effect
                return kernels_in_effect()
        try:
            print(json.dumps({"tampered": ray.get(Unpinned.remote().kernels.remote(), timeout=300)}))
        except Exception as error:
            print(json.dumps({"tampered_error": str(error)}))
    finally:
        shutdown_ray()
""")


@pytest.mark.slow
def test_the_workers_of_a_pinned_driver_s_ray_run_the_pin_s_kernels():
    out = subprocess.run([sys.executable, "-c", RAY_CHILD], env=_clean_env(), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.strip().splitlines() if line.startswith(("[", "{"))]
    capability, branch = lines[0]
    assert capability == "AVX2" and branch in (None, 10)
    error = lines[1].get("tampered_error", "")
    assert "cpu_kernels 'avx2'" in error and "DEFAULT" in error, lines[1]
