"""Ray Data actor pools are sized from what the cluster has free (a Serve replica may hold CPUs), not
from its totals: a pool is cut to what fits, and a stage where not even one actor fits fails at
once, naming the stage, instead of waiting forever for CPUs it can never get."""
from __future__ import annotations

import threading
import time

import pytest

from w2s_ray.raycluster import free_resources
from w2s_ray.raycluster.free_resources import NoRoomError, fit_pool


def test_a_pool_is_cut_to_what_is_free_and_takes_it():
    free = {"CPU": 1.2, "GPU": 0.0}
    assert fit_pool("score step_check", 3, {"CPU": 0.5, "GPU": 0.0}, free) == 2
    assert free["CPU"] == pytest.approx(0.2)
    assert fit_pool("generate weak", 2, {"CPU": 1.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 2.0}) == 2
    assert fit_pool("generate weak", 4, {"CPU": 2.0, "GPU": 2.0}, {"CPU": 8.0, "GPU": 5.0}) == 2  # TP 2
    free = {"CPU": 2.0, "GPU": 0.0}  # kept for the stage's row tasks: one engine, not two
    assert fit_pool("generate weak", 2, {"CPU": 1.0, "GPU": 0.0}, free, reserve_cpus=0.1) == 1
    assert free["CPU"] == pytest.approx(1.0)


def test_not_even_one_actor_is_a_located_error():
    with pytest.raises(NoRoomError) as err:
        fit_pool("generate weak-b", 1, {"CPU": 1.0, "GPU": 0.0}, {"CPU": 0.5, "GPU": 0.0}, {"CPU": 2.0, "GPU": 0.0})
    message = str(err.value)
    assert "'generate weak-b'" in message and "needs 1 CPU" in message and "only 0.5 CPU free of 2 CPU" in message
    assert "serve" in message.lower()


@pytest.fixture()
def hold_cpus(ray_local, monkeypatch):
    """Hold CPUs the way a Serve replica of `w2s run --serve` does: an actor that keeps them."""
    monkeypatch.setattr(free_resources, "SETTLE_S", 2.0)
    holders = []

    def hold(leave_free: float) -> None:
        deadline = time.time() + 60  # actors of earlier tests are released asynchronously
        while ray_local.available_resources().get("CPU", 0) < 2.0 and time.time() < deadline:
            time.sleep(0.5)
        cpus = ray_local.available_resources()["CPU"] - leave_free

        @ray_local.remote(num_cpus=cpus)
        class Holder:
            def ping(self):
                return True

        holder = Holder.remote()
        ray_local.get(holder.ping.remote(), timeout=120)
        holders.append(holder)

    yield hold
    for holder in holders:
        ray_local.kill(holder)


# A stall detector, not a timing: the bug these tests hold was waiting forever. The bounds are ~5x
# what a machine with a second CPU-bound job beside the suite took (an engine start alone ~130 s).
STALL_S = 900


def _within(seconds: float, fn):
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as error:  # noqa: BLE001 - handed to the test
            out["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s (before: forever, for CPUs held elsewhere)"
    return out


@pytest.mark.slow
def test_a_stage_whose_one_actor_cannot_fit_fails_at_once_instead_of_waiting_forever(hold_cpus, ray_local):
    from w2s_ray.config import TeacherConfig
    from w2s_ray.data.world import generate_world
    from w2s_ray.generate.stage import generate
    from w2s_ray.score import score_dataset

    hold_cpus(leave_free=0.5)
    problems = [p.to_row() for p in generate_world(4, seed=3, levels=(1,))]
    teacher = TeacherConfig(name="weak", model="unused", engine="hf", max_tokens=8)
    out = _within(STALL_S, lambda: generate(problems, teacher, "unused", "cpu"))
    assert isinstance(out.get("error"), NoRoomError) and "'generate weak'" in str(out["error"]), out

    ds = ray_local.data.from_items([{"text": "#### 1", "gold": "1"}])
    out = _within(STALL_S, lambda: score_dataset(ds, [{"name": "answer_check", "num_cpus": 1.0}]).take_all())
    assert isinstance(out.get("error"), NoRoomError) and "'score answer_check'" in str(out["error"]), out


@pytest.mark.slow
def test_a_pool_larger_than_what_is_free_is_cut_and_the_stage_finishes(hold_cpus, ray_local, capfd):
    from w2s_ray.score import score_dataset

    hold_cpus(leave_free=1.0)
    rows = [{"text": f"1+1=2\n#### {i}", "gold": "2"} for i in range(12)]
    ds = ray_local.data.from_items(rows, override_num_blocks=3)
    out = _within(STALL_S, lambda: score_dataset(ds, [{"name": "step_check", "concurrency": 4, "batch_size": 4}]).take_all())
    assert len(out["value"]) == 12, out
    assert "score step_check: 2 of 4 actors fit" in capfd.readouterr().err


@pytest.mark.slow
def test_a_vllm_pool_beside_a_serve_replica_leaves_its_row_tasks_a_cpu(hold_cpus, ray_local, tiny_models):
    """Serve holds all but 1.5 CPUs: the engine takes 1, and the stage's row tasks (the batches sent
    to the engine, our answer extraction) must get CPU beside it. Before: a preprocess
    task took 1 CPU, the engine actor stayed pending on the 0.5 left, and the stage hung (240 s seen)."""
    from w2s_ray.config import TeacherConfig
    from w2s_ray.data.world import generate_world
    from w2s_ray.generate.stage import generate

    hold_cpus(leave_free=1.5)
    problems = [p.to_row() for p in generate_world(12, seed=3, levels=(1, 2))]
    teacher = TeacherConfig(name="weak", model="t-weak", engine="vllm", max_tokens=8, batch_size=2, dtype="float32",
                            max_model_len=128)
    out = _within(STALL_S, lambda: generate(problems, teacher, tiny_models[0], "cpu"))
    assert "error" not in out, out
    ds, stats = out["value"]
    assert stats.rows == 12 and ds.count() == 12
