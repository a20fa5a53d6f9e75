"""cluster/: what a user applies works as written, checked without a Kubernetes cluster or a cloud.

RayJob: its entrypoint names a config that loads, its run directory is on the shared ReadWriteMany
volume, the dashboard is reachable by KubeRay's submitter, a NetworkPolicy is the boundary, and its
runtime_env merges with the one init_ray gives (Ray's own merge function). Launcher: valid for Ray's own
ray-schema.json, an image, `ray` not by bare name, the shared file system runtime_env.yaml relies on.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from ray.runtime_env.runtime_env import _merge_runtime_env

from w2s_ray.cli import main
from w2s_ray.config import load_config
from w2s_ray.raycluster.runtime import driver_env_vars, job_safe_path

REPO = Path(__file__).resolve().parent.parent
CLUSTER = REPO / "cluster"
APP = "/app"  # where cluster/Dockerfile puts the repo


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CLUSTER / name).read_text()) if d]


@pytest.fixture
def rayjob() -> dict:
    (job,) = docs("rayjob.yaml")
    assert job["kind"] == "RayJob"
    return job


def test_rayjob_entrypoint_names_a_config_that_exists_and_loads(rayjob):
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:2] == ["python", f"{APP}/jobs/run_loop.py"]
    config = REPO / Path(argv[2]).relative_to(APP)
    assert config.is_file(), f"the RayJob runs {argv[2]}, which the image does not have"
    load_config(config)
    assert (REPO / "cluster" / "Dockerfile").read_text().count("COPY configs configs") == 1


def test_rayjob_run_dir_is_on_the_shared_read_write_many_volume(rayjob):
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    run_dir = Path(argv[argv.index("--run-dir") + 1])
    assert run_dir.is_absolute()
    groups = [rayjob["spec"]["rayClusterSpec"]["headGroupSpec"], *rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]]
    (pvc,) = docs("shared-volume.yaml")
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for group in groups:  # every node sees the run directory at the same path, on that claim
        pod = group["template"]["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        mounts = [m for c in pod["containers"] for m in c["volumeMounts"]
                  if run_dir.is_relative_to(m["mountPath"]) and claims.get(m["name"]) == pvc["metadata"]["name"]]
        assert mounts, f"{group.get('groupName', 'head')} does not mount {run_dir} from {pvc['metadata']['name']}"


def test_rayjob_dashboard_is_reachable_by_kuberay_behind_a_network_policy(rayjob):
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    (policy,) = docs("networkpolicy.yaml")
    assert policy["kind"] == "NetworkPolicy"
    assert policy["spec"]["podSelector"]["matchLabels"] == {"ray.io/is-ray-node": "yes"}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    dashboard_rules = [r for r in policy["spec"]["ingress"] if any(p["port"] == 8265 for p in r.get("ports", []))]
    assert dashboard_rules, "the operator and the submitter must reach the dashboard"


@pytest.mark.parametrize("job_env", [
    pytest.param(lambda: yaml.safe_load(docs("rayjob.yaml")[0]["spec"]["runtimeEnvYAML"]), id="rayjob"),
    pytest.param(lambda: yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text()), id="runtime_env.yaml"),
    pytest.param(lambda: {"env_vars": {"OMP_NUM_THREADS": "8", "HF_HOME": "/data/hf"}}, id="job-sets-OMP"),
])
def test_the_jobs_runtime_env_merges_with_init_rays(job_env, monkeypatch):
    job = job_env()
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": job}))
    driver = {"env_vars": driver_env_vars(target="auto")}
    merged = _merge_runtime_env(job, driver)
    assert merged is not None, f"Ray refuses: {job} vs {driver}"
    # init_ray's per-worker thread count applies unless the job chose its own.
    assert merged["env_vars"]["OMP_NUM_THREADS"] == job["env_vars"].get("OMP_NUM_THREADS", "1")


def test_a_relative_run_dir_under_a_job_goes_to_the_shared_dir_or_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {}}))
    monkeypatch.delenv("W2S_SHARED_DIR", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"run_dir": "runs/x", "weak": [{"name": "w", "model": "weak-a"}],
                                      "strong": {"name": "s", "model": "world-student"}}))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "'runs/x' is relative" in err and "W2S_SHARED_DIR" in err and "Traceback" not in err
    assert main(["resume", "runs/x"]) == 2
    monkeypatch.setenv("W2S_SHARED_DIR", "/shared")
    assert job_safe_path("runs/x", "run_dir") == "/shared/runs/x"
    assert "/shared/runs/x (W2S_SHARED_DIR)" in capsys.readouterr().out
    assert job_safe_path("/abs/runs/x", "run_dir") == "/abs/runs/x"
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR")
    assert job_safe_path("runs/x", "run_dir") == "runs/x"  # `w2s run` on a workstation: as given


def test_the_cluster_launcher_yaml_is_valid_for_ray_and_runs_the_gpu_image():
    import jsonschema
    import ray

    launcher = yaml.safe_load((CLUSTER / "cluster-launcher.yaml").read_text())
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(launcher, schema)
    assert launcher["docker"]["image"].endswith(":gpu")  # cluster/Dockerfile: the GPU lock
    commands = [c for key in ("setup_commands", "head_start_ray_commands", "worker_start_ray_commands",
                              "head_setup_commands", "worker_setup_commands") for c in launcher.get(key, [])]
    bare = [c for c in commands if re.search(r"(^|&&|;|\|\||\()\s*(sudo\s+)?ray\s", c)]
    assert not bare, f"a bare `ray` is not on a non-login shell's PATH: {bare}"
    # runtime_env.yaml puts run dirs and caches under /shared: every node's container must have it.
    runtime_env = yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())
    shared = {v for k, v in runtime_env["env_vars"].items() if str(v).startswith("/")}
    assert shared and all(v.startswith("/shared") for v in shared)
    assert "-v /shared:/shared" in launcher["docker"]["run_options"]
    assert any("mount" in c and "/shared" in c for c in launcher["initialization_commands"])


def test_the_job_api_admits_only_kuberays_submitter_and_the_operators_namespace():
    (policy,) = docs("networkpolicy.yaml")
    (dashboard,) = [r for r in policy["spec"]["ingress"] if any(p["port"] == 8265 for p in r.get("ports", []))]
    assert [p["port"] for p in dashboard["ports"]] == [8265]
    peers = dashboard["from"]
    assert all(p.get("podSelector") != {} for p in peers), "an empty podSelector admits every pod of the namespace"
    pods = [p["podSelector"]["matchLabels"] for p in peers if "podSelector" in p and "namespaceSelector" not in p]
    # The labels KubeRay v1.7.0 stamps on a RayJob's submitter pod (rayjob_controller.getSubmitterTemplate).
    assert pods == [{"ray.io/originated-from-crd": "RayJob", "app.kubernetes.io/created-by": "kuberay-operator"}]
    (namespace,) = [p["namespaceSelector"]["matchLabels"] for p in peers if "namespaceSelector" in p]
    (label,) = namespace.items()
    assert label[0] != "kubernetes.io/metadata.name", "the operator's namespace by a label the user sets, not a name"
    # The one place that label is set: the policy's own comment, quoted by the README.
    command = f"kubectl label namespace <the operator's namespace> {label[0]}={label[1]}"
    assert command in (CLUSTER / "networkpolicy.yaml").read_text()
    assert command in (REPO / "README.md").read_text()


def test_only_the_launchers_gpu_workers_run_with_gpus():
    """Ray's launcher runs `docker run` with run_options + head_run_options / worker_run_options
    (autoscaler/_private/command_runner.py); `--gpus all` on the CPU-only head fails its start."""
    launcher = yaml.safe_load((CLUSTER / "cluster-launcher.yaml").read_text())
    docker = launcher["docker"]
    head = docker.get("run_options", []) + docker.get("head_run_options", [])
    worker = docker.get("run_options", []) + docker.get("worker_run_options", [])
    assert not [o for o in head if "--gpus" in o], head
    assert "--gpus all" in worker
