"""`make demo-seeds`: one config, a training seed and a run dir per run, set from the command line."""
from __future__ import annotations

from pathlib import Path

from w2s_ray.config import load_config

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_each_seed_gets_its_own_config_hash_and_run_dir():
    configs = [load_config(DEMO, sets=[f"train.seed={s}", f"run_dir=runs/demo-seed{s}"]) for s in (0, 1, 2)]
    assert [c.train.seed for c in configs] == [0, 1, 2]
    assert len({c.run_dir for c in configs}) == 3
    assert len({c.config_hash() for c in configs}) == 3  # a seed run never resumes into another's dir


def test_the_seed_target_runs_three_seeds_then_compares_them():
    makefile = (DEMO.parents[1] / "Makefile").read_text()
    assert "SEEDS ?= 0 1 2" in makefile and "--set train.seed=$$s" in makefile
    assert "w2s compare $(foreach s,$(SEEDS),runs/demo-seed$(s))" in makefile
