"""Shared fixtures: one embedded Ray per test session (starting Ray costs ~7 s), on loopback only."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_local():
    from w2s_ray.runtime import init_ray, shutdown_ray

    ray = init_ray(num_cpus=2)
    yield ray
    shutdown_ray()
