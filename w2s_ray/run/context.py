"""What every stage of a run needs: the config, the manifest, the device, the splits."""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from w2s_ray.config import RunConfig, TeacherConfig
from w2s_ray.data.schema import Problem
from w2s_ray.data.sources import load_splits
from w2s_ray.generate.engine_pool import EngineCache
from w2s_ray.models.built_in import built_in
from w2s_ray.models.load import resolve_model
from w2s_ray.raycluster import autoscale, cuda_check
from w2s_ray.raycluster.devices import Device, resolve_device
from w2s_ray.raycluster.runtime import cluster_address, init_ray, quiet_ray_data, ray_logs_dir
from w2s_ray.run.environment import environment
from w2s_ray.run.kernels import pin_kernels
from w2s_ray.run.lock import lock_run_dir
from w2s_ray.run import progress
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.ray_logs import RayLogCopy, prepare_logs_dir
from w2s_ray.train.train_job import STORAGE_DIRNAME


@dataclass
class RunContext:
    config: RunConfig
    manifest: Manifest
    device: Device
    splits: dict[str, list[Problem]]
    data_stats: dict
    _models: dict[str, str] = field(default_factory=dict)
    # vLLM engines kept up between stages that use the same model (generate/engine_pool.py).
    engines: EngineCache = field(default_factory=EngineCache)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    def stage_dir(self, key: str) -> Path:
        return self.run_dir / key

    def model_path(self, spec: str) -> str:
        """A local directory for a model spec. A built-in model is built by its own manifest stage
        (run/model_builds.py), never here unseen; anything else resolves as models/load.py says."""
        if spec not in self._models:
            if built_in(spec) is not None:
                from w2s_ray.run.model_builds import build_model

                return build_model(self, spec)
            self._models[spec] = str(resolve_model(spec, self.config.resolved_cache_dir()))
        return self._models[spec]

    def register_model(self, spec: str, path: str) -> None:
        self._models[spec] = path

    def rows(self, split: str) -> list[dict]:
        return [p.to_row() for p in self.splits[split]]

    def eval_teacher(self, base: TeacherConfig, name: str, shots: int = 0) -> TeacherConfig:
        """Greedy, one sample, on the test split, scored by `eval.scorers`: the same settings for
        every model evaluated."""
        return base.model_copy(update={
            "name": name, "shots": shots, "n": 1, "temperature": 0.0,
            "max_tokens": self.config.eval.max_tokens, "scorers": self.config.eval.scorers,
        })


def clean_leftovers(manifest: Manifest) -> list[Path]:
    """Remove what a killed attempt left: checkpoints being published (`*.tmp-*` beside a stage's
    model) and Ray Train's state of stages not complete. Only this process writes the run (lock),
    so nothing removed here is in use. Returns what was removed."""
    run_dir = manifest.run_dir
    complete = {run_dir / key for key in manifest.stages()}
    removed = []
    for path in sorted(run_dir.rglob("*.tmp-*")) + sorted(run_dir.rglob(STORAGE_DIRNAME)):
        if path.exists() and not any(path.is_relative_to(done) for done in complete):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
    if removed:
        print(f"[run] removed {len(removed)} leftovers of an interrupted attempt: "
              f"{[str(p.relative_to(run_dir)) for p in removed]}", file=sys.stderr)
    return removed


def resolve_models(config: RunConfig) -> dict[str, str]:
    """Every teacher's model that is a path, .gguf file or hub id, as a local directory. Done before
    Ray starts: a typo'd id fails in seconds with its name, not at the first stage that loads it, and
    the embedded Ray's HF_HUB_OFFLINE (raycluster/runtime.py) does not yet stop a hub download. Built-in models
    are left to their own manifest stages (RunContext.model_path)."""
    cache = config.resolved_cache_dir()
    specs = dict.fromkeys(t.model for t in [*config.weak, config.strong])
    return {spec: str(resolve_model(spec, cache)) for spec in specs if built_in(spec) is None}


def open_run(config: RunConfig, data: tuple[dict, dict] | None = None) -> RunContext:
    # Data and models first: a missing file or unknown model id must fail before a manifest exists or Ray starts.
    splits, stats = data if data is not None else load_splits(config.data)
    models = resolve_models(config)
    embedded = cluster_address(config.ray.address) is None
    if config.ray.device == "gpu" and embedded:  # no GPU here: one line before Ray or a manifest
        cuda_check.check_this_machine()
    run_dir = Path(config.run_dir)
    lock_run_dir(run_dir)  # before anything reads or writes the manifest
    manifest = Manifest.create(run_dir, config.model_dump(mode="json"), config.config_hash())
    manifest.note_data(stats)
    clean_leftovers(manifest)
    pin_kernels(config.ray.cpu_kernels)  # before any tensor op here, and before Ray's workers start
    ray = init_ray(config.ray.address, config.ray.num_cpus, log_to_driver=config.ray.log_to_driver)
    autoscale.configure(config.ray.autoscaling, config.ray.autoscale_wait_s)
    device = resolve_device(config.ray.device)
    if device == "gpu":  # a cluster's GPUs are checked where they are (its head usually has none)
        cuda_check.check_cluster(ray, embedded)
    manifest.note_environment(environment())  # after init_ray: it sets the env vars workers inherit
    prepare_logs_dir(run_dir)
    logs = ray_logs_dir()
    if logs is not None:  # a driver joined to a remote cluster may have none on its node
        manifest.stage_end_hooks.append(RayLogCopy(run_dir, logs).sync)
    progress.set_interval(config.ray.progress_seconds)
    if not config.ray.log_to_driver:
        quiet_ray_data()
    return RunContext(config, manifest, device, splits, stats, models,
                      engines=EngineCache(weights_in_place=config.train.keep_engines))
