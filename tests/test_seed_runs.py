"""`make demo-seeds`: one config, a training seed and a run dir per run, set from the command line."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from w2s_ray.config import load_config

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_each_seed_gets_its_own_config_hash_and_run_dir():
    configs = [load_config(DEMO, sets=[f"train.seed={s}", f"run_dir=runs/demo-seed{s}"]) for s in (0, 1, 2)]
    assert [c.train.seed for c in configs] == [0, 1, 2]
    assert len({c.run_dir for c in configs}) == 3
    assert len({c.config_hash() for c in configs}) == 3  # a seed run never resumes into another's dir


def _dry_run(*args: str) -> str:
    # -o: the venv's stamp counts as made, so make only prints the target's own commands.
    return subprocess.run(["make", "-n", "-o", ".venv/.installed", "demo-seeds", *args], cwd=DEMO.parents[1],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_seed_target_runs_three_seeds_then_compares_them():
    out = _dry_run()
    for s in (0, 1, 2):
        assert f"w2s run configs/demo.yaml --set train.seed=$s --set run_dir=runs/demo-seed$s" in out
    assert "w2s compare runs/demo-seed0 runs/demo-seed1 runs/demo-seed2 --out runs/demo-seeds" in out


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_seed_target_takes_any_demo_config():
    out = _dry_run("SEED_CONFIG=configs/demo-w2s.yaml", "SEEDS=3 4")
    assert "for s in 3 4; do" in out and "w2s run configs/demo-w2s.yaml --set train.seed=$s" in out
    assert "--set run_dir=runs/demo-w2s-seed$s" in out
    assert "w2s compare runs/demo-w2s-seed3 runs/demo-w2s-seed4 --out runs/demo-w2s-seeds" in out
