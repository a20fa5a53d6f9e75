"""On an autoscaling cluster a stage asks the autoscaler for its pools' actors and waits, bounded, before
sizing its pools from what is free (raycluster/autoscale.py); without that, pools were cut to the nodes
already up and generation ran on one engine forever. Stand-ins: `request_resources` recorded, and cluster
resources that appear after some polls (or never)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import ray
import ray.autoscaler.sdk

from w2s_ray.raycluster import autoscale, free_resources
from w2s_ray.raycluster.free_resources import fit_pool

SMALL = {"CPU": 2.0, "GPU": 1.0}  # the nodes up before the stage: room for one 1-GPU engine
GROWN = {"CPU": 10.0, "GPU": 4.0}
FOUR_ENGINES = [{"GPU": 1.0, "CPU": 1.0}] * 4


@pytest.fixture()
def requests(monkeypatch):
    """What the autoscaler was asked, in order."""
    asked: list[list[dict]] = []
    monkeypatch.setattr(ray.autoscaler.sdk, "request_resources", lambda bundles=None, **_: asked.append(bundles))
    return asked


@pytest.fixture()
def cluster(monkeypatch):
    """ray.available_resources() as a cluster whose nodes come up after `polls` calls (None: never)."""
    state = {"calls": 0, "after": None}

    def available():
        state["calls"] += 1
        grown = state["after"] is not None and state["calls"] > state["after"]
        return dict(GROWN if grown else SMALL)

    monkeypatch.setattr(ray, "available_resources", available)
    monkeypatch.setattr(autoscale, "POLL_S", 0.01)
    return state


@pytest.fixture(autouse=True)
def policy(monkeypatch):
    monkeypatch.setattr(autoscale, "_policy", autoscale._Policy())


def test_an_autoscaling_cluster_is_asked_for_every_engine_and_the_pool_gets_them(requests, cluster, capsys):
    cluster["after"] = 3  # the nodes are up at the fourth look
    autoscale.configure(True, wait_s=60)
    free = free_resources.free_resources(want={"GPU": 4, "CPU": 4.1}, settle_s=0, bundles=FOUR_ENGINES,
                                         stage="generate strong")
    assert free == GROWN
    assert fit_pool("generate strong", 4, {"GPU": 1.0, "CPU": 1.0}, free) == 4
    assert requests == [FOUR_ENGINES, []]  # asked, then withdrawn so the nodes can scale down after the stage
    assert cluster["calls"] == 4
    err = capsys.readouterr().err
    assert "generate strong: asked the autoscaler for 4 bundles (4 CPU, 4 GPU)" in err


def test_the_wait_is_bounded_and_the_pool_is_sized_from_what_came(requests, cluster, capsys):
    autoscale.configure(True, wait_s=0.2)  # never grows
    free = free_resources.free_resources(want={"GPU": 4}, settle_s=0, bundles=FOUR_ENGINES, stage="generate strong")
    assert free == SMALL
    assert fit_pool("generate strong", 4, {"GPU": 1.0, "CPU": 1.0}, free) == 1
    assert requests == [FOUR_ENGINES, []]
    assert "generate strong: the autoscaler did not add them within 0.2 s (ray.autoscale_wait_s)" in \
        capsys.readouterr().err


def test_a_fixed_cluster_is_not_asked_and_the_pool_is_cut_as_before(requests, cluster, monkeypatch):
    monkeypatch.setattr(autoscale, "cluster_autoscales", lambda: False)  # auto, and nothing reported
    cluster["after"] = 0
    free = free_resources.free_resources(want={"GPU": 4}, settle_s=0, bundles=FOUR_ENGINES)
    assert requests == [] and free == GROWN  # grown at once: nothing to ask
    cluster.update(calls=0, after=None)
    assert free_resources.free_resources(want={"GPU": 4}, settle_s=0, bundles=FOUR_ENGINES) == SMALL
    assert requests == []


def test_enough_free_asks_nothing(requests, cluster):
    autoscale.configure(True, wait_s=60)
    assert free_resources.free_resources(want={"GPU": 1}, settle_s=0, bundles=FOUR_ENGINES[:1]) == SMALL
    assert requests == []


def _group(min_count: int, max_count: int, resources=None):
    return SimpleNamespace(min_count=min_count, max_count=max_count, resources=resources or {"GPU": 1, "CPU": 8})


@pytest.mark.parametrize("config, autoscales", [
    (None, False),  # no autoscaler reported (an embedded Ray, a cluster without one)
    (SimpleNamespace(node_group_configs=[_group(1, 1)]), False),  # a fixed pool
    (SimpleNamespace(node_group_configs=[_group(1, 1), _group(0, 4)]), True),
    (SimpleNamespace(node_group_configs=[_group(0, -1)]), True),  # unbounded
    (SimpleNamespace(node_group_configs=[_group(0, 0)]), False),
])
def test_auto_reads_what_the_autoscaler_reported(monkeypatch, config, autoscales):
    import ray._private.state

    monkeypatch.setattr(ray._private.state.state, "get_cluster_config", lambda: config)
    assert autoscale.cluster_autoscales() is autoscales
    assert autoscale.autoscaling() is autoscales  # the default setting is auto
    autoscale.configure(not autoscales, 1.0)
    assert autoscale.autoscaling() is (not autoscales)  # ray.autoscaling overrides


def test_the_generate_stage_asks_for_each_replicas_tensor_parallel_bundles(monkeypatch):
    from w2s_ray.config import TeacherConfig
    from w2s_ray.generate import stage

    asked = {}

    class Sized(Exception):
        pass

    def stand_in(**kwargs):
        asked.update(kwargs)
        raise Sized

    monkeypatch.setattr(stage, "free_resources", stand_in)
    teacher = TeacherConfig(name="strong", model="m", engine="vllm", tensor_parallel_size=2, concurrency=3)
    with pytest.raises(Sized):
        stage.generate([{"id": "p1", "question": "1 + 1?"}], teacher, "/nowhere", "gpu")
    assert asked["bundles"] == [{"GPU": 1, "CPU": 1}] * 6 and asked["stage"] == "generate strong"
