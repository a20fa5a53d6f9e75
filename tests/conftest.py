"""Shared fixtures: one embedded Ray per test session (starting Ray costs ~7 s), on loopback only."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# What init_ray sets before it starts the embedded Ray, set before any test imports ray: a test that
# imports ray earlier (ray.data.llm configs, runtime-env merges) fixes the driver's auth mode at
# 'disabled', and the session's token-auth GCS then refuses its own driver (seen in the full suite).
_SHELLS_RAY_AUTH_MODE = os.environ.get("RAY_AUTH_MODE")
os.environ["RAY_AUTH_MODE"] = "token"
# And what w2s_ray's import sets (w2s_ray/__init__.py): Ray reads it at its own first import, so a test
# module that imports ray before w2s_ray (tests/test_autoscale.py, collected first) made the session's
# Ray bind every interface (tests/test_runtime.py saw it). Importing the package here sets it first.
import w2s_ray  # noqa: E402,F401


def shell_env(**extra: str) -> dict[str, str]:
    """The environment for a `w2s` subprocess as a user's shell would start it: without the
    RAY_AUTH_MODE set above for this process (inherited, it hid a `w2s run --serve` that failed
    from a plain shell), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    if _SHELLS_RAY_AUTH_MODE is not None:
        env["RAY_AUTH_MODE"] = _SHELLS_RAY_AUTH_MODE
    return {**env, **extra}


# Tests too long for `make test`'s 20-minute budget on 2 cores run with W2S_LONG_TESTS=1 (`make test-long`).
long_test = pytest.mark.skipif(os.environ.get("W2S_LONG_TESTS") != "1",
                               reason="long: run with W2S_LONG_TESTS=1 (make test-long)")


@pytest.fixture(scope="session")
def ray_local():
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    ray = init_ray(num_cpus=2)
    yield ray
    shutdown_ray()


@pytest.fixture(scope="session")
def tiny_models():
    """(weak, strong) model dirs: two small world models trained briefly (~1 min together)."""
    from tests.tiny_run import build_tiny_models

    return build_tiny_models()


def _gold_reader_forbidden(*_args, **_kwargs):
    raise AssertionError("strong_train_with_gold was called outside the ceiling baseline")


@pytest.fixture(scope="session")
def w2s_two_rounds(tmp_path_factory, tiny_models, ray_local):
    """One tiny Weak-to-Strong Reasoning run that two tests read (each run costs ~1.5-2 min of the
    suite): two rounds the authors' way (the round-1 student as round 2's weak side, one fixed demo
    set), the weak teacher's baseline and Stage II, with the one reader of the strong half's gold,
    `strong_train_with_gold`, made to raise (only the ceiling baseline may call it, and it is left
    out). test_gold_leak.py checks that no strong-half gold reached a row; test_w2s_rounds.py the
    rounds' inputs and the resume. Returns (config path, manifest)."""
    import yaml

    import w2s_ray.data.sources as sources
    import w2s_ray.recipes.w2s_reasoning.baselines as baselines
    from tests.tiny_run import write_config
    from w2s_ray.config import load_config
    from w2s_ray.run.driver import run

    work = tmp_path_factory.mktemp("w2s_two_rounds")
    path = write_config(work / "run.yaml", work / "run", tiny_models, rounds=2, baselines=["weak"])
    raw = yaml.safe_load(path.read_text())
    raw["stage2"] = {"n": 4, "temperature": 1.0, "min_confidence": 0.5, "flip_confidence": 0.5, "lr": 1e-4,
                     "questions": 20}
    path.write_text(yaml.safe_dump(raw))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "strong_train_with_gold", _gold_reader_forbidden)
        patch.setattr(baselines, "strong_train_with_gold", _gold_reader_forbidden)
        manifest = run(load_config(path))
    return path, manifest


# Tests whose first ZeRO run compiles DeepSpeed's shm comm op (tests/deepspeed_prebuild.py).
ZERO_TESTS = ("test_train_sft.py", "test_train_preference.py", "test_train_early_stopping.py", "test_train_grpo.py")


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected what will not run
def pytest_collection_modifyitems(config, items):
    """Start now what mostly waits or uses one core, so it overlaps the tests instead of adding to the
    suite's time: the GPU lock's resolver check (a minute or two on PyPI) and DeepSpeed's op build."""
    if any(item.nodeid.endswith("test_gpu_lock.py::test_pip_resolves_the_lock_for_linux_x86_64") for item in items):
        from tests import gpu_lock_resolver
        from tests.test_gpu_lock import resolver_inputs

        gpu_lock_resolver.start(*resolver_inputs())
    if any(item.nodeid.split("::")[0].endswith(ZERO_TESTS) for item in items):
        from tests import deepspeed_prebuild

        deepspeed_prebuild.start()
