"""Entry point for `ray job submit`: run (or resume) a weak-to-strong loop on the cluster.

    ray job submit --runtime-env cluster/runtime_env.yaml --working-dir . -- \
        python jobs/run_loop.py configs/gpu-gsm8k-w2s.yaml [--run-dir /shared/runs/x] [--set key.path=value]
    ray job submit --runtime-env cluster/runtime_env.yaml --working-dir . -- \
        python jobs/run_loop.py --resume /shared/runs/x

Inside a job Ray sets RAY_ADDRESS, so the run joins the cluster instead of starting its own Ray. The
job's working directory is deleted with it: a relative run_dir goes under W2S_SHARED_DIR or is refused.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the job's working dir

from w2s_ray.cli import main  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--resume"]:
        sys.exit(main(["resume", *args[1:]]))
    sys.exit(main(["run", *args]))
