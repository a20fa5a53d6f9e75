"""cluster/rayjob.yaml and cluster/rayservice.yaml against KubeRay v1.7.0's own CRD schemas (vendored
in tests/kuberay/, see its README), as the API server would check them: unknown fields refused, as
kubectl's strict field validation does, except where the schema keeps unknown fields.

Regenerate the schemas: for each CRD file, take spec.versions[name == v1].schema.openAPIV3Schema,
drop every "description" key, json.dumps(..., separators=(",", ":"), sort_keys=True).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from w2s_ray.run.manifest import Manifest

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = Path(__file__).parent / "kuberay"


def strict(schema):
    """additionalProperties: false on every object with declared properties, unless the CRD says
    x-kubernetes-preserve-unknown-fields: what a field typo meets on `kubectl apply`."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def validate(manifest: dict, crd: str) -> None:
    schema = strict(json.loads((SCHEMAS / f"ray.io_{crd}.v1.schema.json").read_text()))
    jsonschema.validate(manifest, schema)


def manifest(name: str) -> dict:
    (doc,) = [d for d in yaml.safe_load_all((REPO / "cluster" / name).read_text()) if d]
    return doc


def test_rayjob_is_valid_for_kuberay():
    job = manifest("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    validate(job, "rayjobs")


def test_rayservice_is_valid_for_kuberay():
    service = manifest("rayservice.yaml")
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    validate(service, "rayservices")


def test_the_strict_schema_catches_a_typo():
    job = manifest("rayjob.yaml")
    job["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParam"] = {}
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        validate(job, "rayjobs")


def test_rayservice_application_imports_and_refuses_what_it_cannot_serve(tmp_path, monkeypatch):
    (application,) = yaml.safe_load(manifest("rayservice.yaml")["spec"]["serveConfigV2"])["applications"]
    module, _, attr = application["import_path"].partition(":")
    rayservice = importlib.import_module(module)
    assert callable(getattr(rayservice, attr))
    with pytest.raises(rayservice.RayServiceConfigError, match="run_dir"):
        rayservice.app_spec({})
    run = tmp_path / "run"
    run.mkdir()
    config = {"name": "r", "weak": [{"name": "w", "model": "weak-a"}], "strong": {"name": "s", "model": "world-student"}}
    from w2s_ray.config import RunConfig

    Manifest.create(run, RunConfig.model_validate(config).model_dump(mode="json"), "h")
    with pytest.raises(rayservice.RayServiceConfigError, match="no promoted student"):
        rayservice.app_spec({"run_dir": str(run)})
    with pytest.raises(rayservice.RayServiceConfigError, match="replicas must be a whole number"):
        rayservice.app_spec({"run_dir": str(run), "replicas": 0})


def test_rayservice_workers_hold_a_swap_of_the_apps_replicas():
    """Each replica holds the served run's strong engine GPUs (the run of configs/gpu-gsm8k-w2s.yaml)."""
    from w2s_ray.config import load_config

    service = manifest("rayservice.yaml")
    (application,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    run = load_config(REPO / "configs" / "gpu-gsm8k-w2s.yaml")
    assert application["args"]["run_dir"].endswith(run.run_dir.split("/", 1)[1])
    gpus = sum(g["maxReplicas"] * int(g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", 0))
               for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"])
    assert gpus >= 2 * application["args"]["replicas"] * run.strong.engine_gpus


def test_rayservice_replicas_arg_overrides_the_run_config(tmp_path, monkeypatch):
    from tests.test_serve_promotion import _finish_round
    from w2s_ray.config import RunConfig
    from w2s_ray.serve import rayservice
    from w2s_ray.serve.promotion import promote_latest

    run = tmp_path / "run"
    config = {"name": "r", "weak": [{"name": "w", "model": "weak-a"}], "strong": {"name": "s", "model": "world-student"}}
    manifest = Manifest.create(run, RunConfig.model_validate(config).model_dump(mode="json"), "h")
    _finish_round(manifest, run, 1, b"w1")
    promote_latest(run)
    monkeypatch.setenv("W2S_SERVE_API_KEY", "t")
    assert rayservice.app_spec({"run_dir": str(run)}).serve.replicas == 1
    assert rayservice.app_spec({"run_dir": str(run), "replicas": 3}).serve.replicas == 3


def pod_specs(crd: str, doc: dict) -> dict[str, dict]:
    cluster = doc["spec"]["rayClusterSpec" if crd == "rayjobs" else "rayClusterConfig"]
    return {"head": cluster["headGroupSpec"]["template"]["spec"],
            **{g["groupName"]: g["template"]["spec"] for g in cluster["workerGroupSpecs"]}}


def gib(quantity: str) -> float:
    units = {"Gi": 1.0, "Mi": 1 / 1024, "Ti": 1024.0}
    return float(quantity[:-2]) * units[quantity[-2:]]


@pytest.mark.parametrize("name, crd", [("rayjob.yaml", "rayjobs"), ("rayservice.yaml", "rayservices")])
def test_every_ray_container_has_a_memory_backed_dev_shm(name, crd):
    """Without it Ray's object store falls back to /tmp and NCCL / vLLM TP lack shared memory (64 MiB)."""
    doc = manifest(name)
    for group, pod in pod_specs(crd, doc).items():
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
            empty_dir = volumes[mount["name"]].get("emptyDir")
            assert empty_dir and empty_dir["medium"] == "Memory", f"{name} {group}: /dev/shm is not RAM"
            # It counts against the pod's memory: room for Ray's default object store (30 %), and less
            # than the whole limit.
            memory = gib(container["resources"]["limits"]["memory"])
            assert 0.3 * memory <= gib(empty_dir["sizeLimit"]) < memory, (name, group)
    validate(doc, crd)  # the volume as the CRD takes it


@pytest.mark.parametrize("name, crd", [("rayjob.yaml", "rayjobs"), ("rayservice.yaml", "rayservices")])
def test_worker_replicas_mean_what_they_say(name, crd):
    """KubeRay (v1.7.0 ValidateRayClusterSpec) requires minReplicas and maxReplicas without autoscaling
    and ignores them for scaling: a fixed pool says so with min == replicas == max."""
    doc = manifest(name)
    cluster = doc["spec"]["rayClusterSpec" if crd == "rayjobs" else "rayClusterConfig"]
    autoscaling = cluster.get("enableInTreeAutoscaling", False)
    for group in cluster["workerGroupSpecs"]:
        if autoscaling:
            assert "autoscalerOptions" in cluster
            assert 0 <= group["minReplicas"] <= group.get("replicas", group["minReplicas"]) <= group["maxReplicas"]
        else:
            assert group["minReplicas"] == group["replicas"] == group["maxReplicas"], group["groupName"]
