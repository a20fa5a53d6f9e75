"""Entry point for `ray job submit`: the GPU smoke (w2s_ray/smoke.py) on the cluster, first thing.

    ray job submit --runtime-env cluster/runtime_env.yaml --working-dir . -- python jobs/gpu_smoke.py

One line per part (PASS / FAIL / SKIP and why); exit status 0, 1 when a part failed, 2 without a GPU.
The driver may sit on a CPU-only head: every part reaches the GPUs through Ray (the first asks torch
in a task on a GPU worker), and the tiny model is written under W2S_SHARED_DIR, which every node sees.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the job's working dir

from w2s_ray.smoke import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
