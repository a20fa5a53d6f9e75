"""A run directory with finished, evaluated rounds made from given model dirs, for the serving tests:
what the loop leaves behind, without running it."""
from __future__ import annotations

import shutil
from pathlib import Path

from w2s_ray.config import RunConfig
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import describe_checkpoint, write_stage
from w2s_ray.train.publish import publish_dir


def make_run(run_dir: Path, weak: str, strong: str, name: str = "tiny", data: dict | None = None,
             **serve) -> tuple[RunConfig, Manifest]:
    config = RunConfig.model_validate({
        "name": name, "run_dir": str(run_dir), **({"data": data} if data else {}),
        "weak": [{"name": "weak", "model": weak}],
        "strong": {"name": "strong", "model": strong, "dtype": "float32", "max_tokens": 24},
        "eval": {"max_tokens": 24},
        "serve": serve,
    })
    return config, Manifest.create(run_dir, config.model_dump(mode="json"), config.config_hash())


def add_round(manifest: Manifest, run_dir: Path, k: int, model_dir: str) -> None:
    """round_k/train publishes a copy of model_dir; round_k/eval is recorded (rows are a stand-in)."""
    model = publish_dir(Path(run_dir) / f"round_{k}" / "train" / "model",
                        lambda staging: shutil.copytree(model_dir, staging), overwrite=True)
    manifest.complete(f"round_{k}/train", outputs={"model": describe_checkpoint(model)})
    rows = write_stage(Path(run_dir) / f"round_{k}" / "eval", [{"problem_id": "stand-in", "correct": False}])
    manifest.complete(f"round_{k}/eval", outputs={"rows": rows}, metrics={"accuracy": {"acc": 0.0}})
