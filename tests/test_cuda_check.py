"""A `ray.device: gpu` run where torch sees no GPU stops at start-up: one line, exit 2, nothing started.
On CPU by making torch.cuda.is_available() False (it is here) and its build a CUDA one (it is not)."""
from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
import yaml

from w2s_ray.cli import main
from w2s_ray.raycluster import cuda_check


@pytest.fixture
def cuda_build_without_a_gpu(monkeypatch):
    """What the GPU image's torch says on a node whose driver is too old, or a container without the GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")


def gpu_config(tmp_path: Path) -> Path:
    config = tmp_path / "gpu.yaml"
    config.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"), "ray": {"device": "gpu"},
                                      "weak": [{"name": "w", "model": "weak-a"}],
                                      "strong": {"name": "s", "model": "world-student"}}))
    return config


def test_a_gpu_run_without_cuda_stops_with_one_line_before_ray_starts(tmp_path, monkeypatch, capsys,
                                                                       cuda_build_without_a_gpu):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    started = []
    monkeypatch.setattr(ray, "init", lambda *a, **k: started.append(1))
    assert main(["run", str(gpu_config(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("w2s: ray.device is gpu, but on this machine: torch.cuda.is_available() is False")
    assert "built for CUDA 13.0 and needs an NVIDIA driver >= 580" in err and "ray.device: cpu" in err
    assert not started and not (tmp_path / "run").exists(), "nothing is started or written"


def test_a_cpu_only_torch_is_named_as_such(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(cuda_check.GpuUnavailableError, match=r"torch \S+ is a CPU-only build"):
        cuda_check.check_this_machine()


def test_a_usable_gpu_passes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda_check.cuda_problem() is None
    cuda_check.check_this_machine()


class FakeRay:
    """The few calls check_cluster makes, with the probe run in this process as a GPU worker would."""

    exceptions = types.SimpleNamespace(GetTimeoutError=TimeoutError)

    def __init__(self, resources: dict, busy: bool = False):
        self.resources, self.busy, self.cancelled, self.asked = resources, busy, [], None

    def cluster_resources(self):
        return self.resources

    def remote(self, **options):
        self.asked = options

        def wrap(fn):
            return types.SimpleNamespace(remote=lambda: fn)
        return wrap

    def get(self, fn, timeout):
        if self.busy:
            raise TimeoutError
        return fn()

    def cancel(self, ref, force):
        self.cancelled.append(ref)


@pytest.fixture
def node_ip(monkeypatch):
    import ray.util

    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "10.0.0.7")


def test_on_a_cluster_the_probe_runs_on_a_gpu_worker_and_names_its_node(monkeypatch, node_ip,
                                                                        cuda_build_without_a_gpu):
    fake = FakeRay({"CPU": 24.0, "GPU": 2.0})
    with pytest.raises(cuda_check.GpuUnavailableError, match="on the cluster's GPU node 10.0.0.7: torch.cuda"):
        cuda_check.check_cluster(fake, embedded=False)
    assert fake.asked["num_gpus"] == 1  # where the GPU work runs, not on the CPU-only head


def test_a_cluster_without_gpus_is_refused_and_busy_gpus_are_not(monkeypatch, node_ip, capsys,
                                                                  cuda_build_without_a_gpu):
    with pytest.raises(cuda_check.GpuUnavailableError, match="the Ray cluster has no GPU: its resources are CPU 8"):
        cuda_check.check_cluster(FakeRay({"CPU": 8.0}), embedded=False)
    busy = FakeRay({"CPU": 8.0, "GPU": 1.0}, busy=True)
    cuda_check.check_cluster(busy, embedded=False)  # another run holds them: its stages wait, as they do
    assert busy.cancelled and "GPU check skipped" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cuda_check.check_cluster(FakeRay({"CPU": 8.0, "GPU": 1.0}), embedded=False)



def test_serve_checks_the_gpu_at_start_up_as_a_run_does(tmp_path, monkeypatch, capsys, cuda_build_without_a_gpu):
    """`w2s serve RUN_DIR` of a gpu run on a machine whose torch sees no GPU: the run's one line, exit 2,
    before Ray starts (it resolved the device after Ray and never checked it)."""
    from w2s_ray.config import load_config
    from w2s_ray.run.manifest import Manifest

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    started = []
    monkeypatch.setattr(ray, "init", lambda *a, **k: started.append(1))
    config = load_config(gpu_config(tmp_path))
    Manifest.create(tmp_path / "run", config.model_dump(mode="json"), config.config_hash())
    assert main(["serve", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("w2s: ray.device is gpu, but on this machine: torch.cuda.is_available() is False")
    assert not started
