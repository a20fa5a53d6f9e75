"""Faults injected into real Ray runs: a vLLM engine actor, a scorer actor and a Ray Train worker die
mid-stage, and each stage still finishes with the rows (steps) of a clean run and no duplicates.

Only the fault is fake: a scorer or a trainer callback that os._exit()s once (keyed by a marker file,
which a restarted process finds), or a SIGKILL to the engine actor's process found through Ray's
state API. Ray Data restarts dead actor-pool actors and retries their tasks (max_restarts and
max_task_retries default to -1 there); Ray Train restarts the worker group (train.max_failures).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import long_test

from w2s_ray.config import TeacherConfig
from w2s_ray.data.world import generate_world
from w2s_ray.generate.stage import generate
from w2s_ray.models.weak_teacher import training_examples
from w2s_ray.score import Scorer, register, score_dataset
from w2s_ray.train import TrainConfig
from w2s_ray.train.sft_worker import sft_metrics, sft_trainer
from w2s_ray.train.train_job import run_train_job
from w2s_ray.train.worker_loop import run_worker


@pytest.fixture(scope="module")
def ray_by_value(ray_local):
    # Ray workers cannot import this test module by name; its classes travel by value.
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray_local


@register("test_dies_once")
class DiesOnce(Scorer):
    """Scores its second batch only after its process died once: the marker outlives the process."""

    columns = ("scored_by",)
    num_cpus = 0.5

    def __init__(self, *, marker: str):
        self.marker = Path(marker)
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls == 2 and not self.marker.exists():  # one batch done: the stage is under way
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return {"scored_by": np.full(len(batch["text"]), os.getpid())}


def _keys(rows, *columns):
    return [tuple(r[c] for c in columns) for r in rows]


def test_a_scorer_actor_that_dies_mid_stage_is_restarted_and_no_row_is_lost_or_doubled(ray_by_value, tmp_path):
    rows = [{"problem_id": f"p{i:03d}", "sample_index": i % 3, "text": f"{i} + 1 = {i + 1}"} for i in range(60)]
    marker = tmp_path / "scorer-died"
    ds = ray_by_value.data.from_items(rows, override_num_blocks=6)
    spec = {"name": "test_dies_once", "config": {"marker": str(marker)}, "batch_size": 5}
    scored = score_dataset(ds, [spec, "step_check"]).take_all()

    assert marker.exists(), "the fault was not injected"
    assert len(scored) == len(rows)
    assert sorted(_keys(scored, "problem_id", "sample_index")) == sorted(_keys(rows, "problem_id", "sample_index"))
    died = int(marker.read_text())
    assert died not in {int(r["scored_by"]) for r in scored}  # the dead actor's lost batch was redone
    assert all(r["n_steps"] == 1 and r["n_wrong_steps"] == 0 for r in scored)


def _engines() -> list[dict]:
    """This Ray's vLLM engine actors. ray.util.state needs the dashboard, which the embedded Ray does
    not start; the GCS actor table is read directly (ray._private.state: no public equivalent)."""
    from ray._private.state import actors

    return [a for a in actors().values() if a["ActorClassName"].endswith("VLLMEngine")]


class _EngineKiller(threading.Thread):
    """SIGKILLs the first vLLM engine actor's process once it has started serving batches."""

    def __init__(self, delay_s: float):
        super().__init__(daemon=True)
        self.delay_s, self.killed, self.killed_at, self.done = delay_s, None, None, threading.Event()

    def run(self):
        while not self.done.is_set():
            alive = [a for a in _engines() if a["State"] == "ALIVE" and a["Pid"]]
            if alive:
                time.sleep(self.delay_s)  # ALIVE: its constructor (engine start) is done; batches flow
                self.killed = alive[0]
                os.kill(self.killed["Pid"], signal.SIGKILL)
                self.killed_at = time.monotonic()
                return
            time.sleep(0.2)


@long_test  # two engine starts: 76-126 s on 2 cores
@pytest.mark.slow
def test_a_vllm_engine_killed_mid_stage_is_restarted_and_the_stage_has_every_row_once(ray_local, tiny_models):
    model = tiny_models[0]
    problems = [p.to_row() for p in generate_world(16, seed=5, levels=(1, 2))]
    teacher = TeacherConfig(name="k", model=model, engine="vllm", n=3, temperature=1.0, max_tokens=24,
                            dtype="float32", max_model_len=256, batch_size=8, seed=3)
    killer = _EngineKiller(delay_s=0.5)
    killer.start()
    try:
        ds, stats = generate(problems, teacher, model, "cpu")
    finally:
        killer.done.set()
    ended = time.monotonic()
    rows = ds.take_all()

    assert killer.killed is not None, "the engine was never killed"
    after = {a["ActorID"]: a for a in _engines()}[killer.killed["ActorID"]]
    assert after["NumRestarts"] >= 1 and after["Pid"] != killer.killed["Pid"]  # Ray restarted it
    # Mid-stage: the stage waited for the new engine to start (seconds). Killed after its last batch,
    # the stage would have ended at once, without waiting for a restart.
    assert ended - killer.killed_at > 5, ended - killer.killed_at
    keys = _keys(rows, "problem_id", "sample_index")
    assert stats.rows == len(rows) == len(set(keys)) == len(problems) * teacher.n
    assert set(keys) == {(p["id"], i) for p in problems for i in range(teacher.n)}


@pytest.mark.slow
def test_a_train_worker_killed_mid_training_restarts_and_records_the_restart(ray_by_value, tiny_models, tmp_path):
    from transformers import TrainerCallback

    marker = tmp_path / "worker-died"

    class DieAtStep2(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2 and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)

    def build(config, common, model_dir, dataset, tokenizer, **extra):
        trainer = sft_trainer(config, common, model_dir, dataset, tokenizer, **extra)
        trainer.add_callback(DieAtStep2())
        return trainer

    def dying_sft_loop(loop_config):
        run_worker(loop_config, build, sft_metrics)

    rows = [{"prompt": p, "completion": c} for p, c in training_examples(generate_world(16, seed=1))]
    config = TrainConfig(num_workers=1, epochs=2, lr=3e-3, per_device_batch_size=4, max_length=128, logging="none")
    result = run_train_job(dying_sft_loop, rows, tiny_models[1], config, "cpu", tmp_path / "student")

    assert marker.exists(), "the fault was not injected"
    metrics = result.metrics
    assert metrics["restarts"] == 1  # loop/steps.train puts these metrics in the manifest
    # The whole run again, from the base model: a clean run's 16 rows x 2 epochs / batch 4 = 8 steps.
    assert metrics["steps"] == 8 and metrics["samples"] == 32
    assert [h["step"] for h in metrics["loss_history"]] == list(range(1, 9))
    assert (Path(result.model_dir) / "model.safetensors").is_file()
