"""`w2s plan`: each stage's ask, computed without loading a model, checked against a declared cluster,
the cluster cluster/rayjob.yaml makes, or a real Ray head started with logical GPUs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.test_job_submit import RAY, free_port, stop_processes_of
from w2s_ray.cli import main

REPO = Path(__file__).resolve().parent.parent
GPU_CONFIGS = ["configs/gpu-gsm8k-w2s.yaml", "configs/gpu-math-w2s.yaml"]


def rayjob_cluster() -> str:
    """The resources cluster/rayjob.yaml's RayCluster has at its configured size."""
    (job,) = [d for d in yaml.safe_load_all((REPO / "cluster" / "rayjob.yaml").read_text()) if d]
    spec = job["spec"]["rayClusterSpec"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    gpus, cpus, per_node = 0.0, float(head["cpu"]), 0.0
    for group in spec["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        gpus += group["replicas"] * float(limits.get("nvidia.com/gpu", 0))
        cpus += group["replicas"] * float(limits["cpu"])
        per_node = max(per_node, float(limits.get("nvidia.com/gpu", 0)))
    return f"gpus={gpus:g},cpus={cpus:g},gpus_per_node={per_node:g}"


@pytest.fixture(autouse=True)
def no_cluster_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.mark.parametrize("config", GPU_CONFIGS)
def test_each_gpu_config_fits_the_rayjob_cluster_and_names_every_ask(config, capsys):
    assert main(["plan", str(REPO / config), "--cluster", rayjob_cluster()]) == 0
    out = capsys.readouterr().out
    assert "every stage fits" in out
    for ask in ("generate weak/qwen2.5-0.5b", "vLLM engine, TP 1", "ZeRO-2", "LoRA r=64", "stage2 train",
                "Ray Train + TRL DPO", "serve"):
        assert ask in out, ask


@pytest.mark.parametrize("setting, stage", [
    ("strong.tensor_parallel_size=4", "generate strong"),
    ("weak.0.concurrency=3", "generate weak/qwen2.5-0.5b"),
    ("train.num_workers=4", "train weak teacher"),
    ("train.gpus_per_worker=2", "train (SFT)"),
])
def test_an_impossible_plan_exits_nonzero_naming_the_stage(setting, stage, capsys):
    code = main(["plan", str(REPO / GPU_CONFIGS[0]), "--cluster", "gpus=2,cpus=40", "--set", setting])
    out = capsys.readouterr().out
    assert code == 1
    assert f"does not fit: stage '{stage}" in out


def test_a_train_worker_must_fit_on_one_node(capsys):
    """4 GPUs in all, 1 per node: 2 workers x 2 GPUs fit the total, but no node holds one worker."""
    args = ["plan", str(REPO / GPU_CONFIGS[0]), "--set", "train.gpus_per_worker=2"]
    assert main([*args, "--cluster", "gpus=4,cpus=40,gpus_per_node=1"]) == 1
    out = capsys.readouterr().out
    assert "stage 'train weak teacher (weak half's gold)' needs 2 GPUs in one actor, the largest node has 1" in out
    assert main([*args, "--cluster", "gpus=4,cpus=40,gpus_per_node=2"]) == 0


def test_serve_beside_the_loop_is_added_to_every_stage(capsys):
    assert main(["plan", str(REPO / GPU_CONFIGS[0]), "--cluster", "gpus=2,cpus=40", "--serve"]) == 1
    assert "with serve beside it needs 4 GPUs, the cluster has 2" in capsys.readouterr().out
    assert main(["plan", str(REPO / GPU_CONFIGS[0]), "--cluster", "gpus=4,cpus=40", "--serve"]) == 0


def test_no_cluster_in_reach_prints_the_plan_and_exits_0(capsys, monkeypatch):
    assert main(["plan", str(REPO / GPU_CONFIGS[0])]) == 0
    out = capsys.readouterr().out
    assert "vLLM engine" in out and "GPUs and CPUs not checked" in out
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_port()}")  # nothing listens there
    assert main(["plan", str(REPO / GPU_CONFIGS[0])]) == 0
    assert "does not answer" in capsys.readouterr().out
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:8265")  # what `ray job submit` users often have set
    assert main(["plan", str(REPO / GPU_CONFIGS[0])]) == 0
    assert "is a dashboard (job server) address" in capsys.readouterr().out


def test_plan_loads_no_model(tmp_path, capsys):
    """Hub ids that are in no cache: a run would stop on them, the plan never looks."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"ray": {"device": "gpu"}, "weak": [{"name": "w", "model": "nowhere/weak"}],
                                      "strong": {"name": "s", "model": "nowhere/strong", "engine": "vllm"}}))
    assert main(["plan", str(config), "--cluster", "gpus=2,cpus=4"]) == 0
    assert main(["plan", str(config), "--cluster", "gpus=four"]) == 2


@pytest.mark.slow
def test_plan_checks_a_real_ray_cluster_with_logical_gpus(tmp_path):
    """A head started with 4 logical GPUs on CPU; the plan reads ray.cluster_resources() through
    RAY_ADDRESS, as inside `ray job submit`."""
    temp_dir = tempfile.mkdtemp(prefix="w2splan", dir="/tmp")  # short: Ray's socket paths are capped
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="token", PYTHONPATH=str(REPO))
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-gpus=4",
                    "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp_dir}", "--disable-usage-stats",
                    f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                    f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                    f"--ray-client-server-port={free_port()}"], env=env, check=True, capture_output=True, timeout=120)
    try:
        env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
        plan = [sys.executable, "-m", "w2s_ray.cli", "plan"]
        fits = subprocess.run([*plan, GPU_CONFIGS[0]], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert fits.returncode == 0, fits.stdout + fits.stderr
        assert f"checked against the cluster at 127.0.0.1:{port}: 4 GPUs (4 on the largest node), 2 CPUs" in fits.stdout
        refused = subprocess.run([*plan, GPU_CONFIGS[1], "--set", "strong.concurrency=3", "--set",
                                  "strong.tensor_parallel_size=2"], cwd=REPO, env=env, capture_output=True,
                                 text=True, timeout=120)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "stage 'generate strong" in refused.stdout and "needs 6 GPUs" in refused.stdout
    finally:
        stop_processes_of(temp_dir)  # by PID: `ray stop` would stop every Ray on this machine
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_each_recipe_adds_its_own_stages_to_the_plan():
    """raycluster/plan.py names no recipe: Stage II, the PRM and the contrast pool come from the recipes' config
    parts (recipes/<name>/config.py's plan_asks); on a GPU run the PRM scorer asks for a GPU."""
    from w2s_ray.config import load_config
    from w2s_ray.raycluster.plan import stage_asks
    from w2s_ray.recipes import recipe_names

    def stages(path, device="cpu"):
        return {a.stage: a for a in stage_asks(load_config(REPO / path), device, 2)}

    assert "stage2 train" in stages("configs/demo-w2s.yaml")
    assert "stage2 train" not in stages("configs/demo.yaml")  # no stage2 section, no Stage II
    e2h = stages("configs/demo-e2h.yaml", "gpu")
    assert e2h["score process_reward_model"].gpus == 1.0 and "PROCESS_REWARD" in e2h["prm train"].what
    assert stages("configs/demo-e2h.yaml")["score process_reward_model"].gpus == 0.0
    assert "score contrast" in stages("configs/demo-lightreasoner.yaml")
    multicap = stages("configs/gpu-multicap.yaml", "gpu")  # the RM scores every weak solution on a GPU
    assert multicap["score reward_model"].gpus == 1.0 and "REWARD" in multicap["rm train"].what
    assert "rm sample weak/qwen2.5-0.5b" in multicap
    assert stages("configs/demo-multicap.yaml")["score reward_model"].gpus == 0.0
    config = load_config(REPO / "configs/demo-multicap.yaml")
    no_rm = config.model_copy(update={"multi_capability": config.multi_capability.model_copy(update={"rm": None})})
    assert not {"score reward_model", "rm train"} & {a.stage for a in stage_asks(no_rm, "cpu", 2)}
    assert set(stages("configs/demo-mix.yaml")) >= {"train (SFT)"}  # a recipe with no plan_asks
    source = (REPO / "w2s_ray" / "raycluster/plan.py").read_text()
    assert not [name for name in recipe_names() if f'"{name}"' in source]


def test_the_gpu_easy_to_hard_config_fits_and_its_kept_engines_must_fit_beside_training(capsys):
    config = str(REPO / "configs/gpu-math-e2h.yaml")
    assert main(["plan", config, "--cluster", rayjob_cluster()]) == 0
    out = capsys.readouterr().out
    assert "every stage fits" in out
    for ask in ("prm train", "score process_reward_model", "rl rollouts (policy)", "Ray Train + TRL GRPO"):
        assert ask in out, ask
    kept = [config, "--set", "easy_to_hard.rl.keep_engines=true"]
    assert main(["plan", *kept, "--cluster", "gpus=2,cpus=40,gpus_per_node=1"]) == 1
    assert "stage 'rl grpo train beside the kept engines (rl.keep_engines)' needs 4 GPUs" in capsys.readouterr().out
    assert main(["plan", *kept, "--cluster", "gpus=4,cpus=40,gpus_per_node=1"]) == 0


def test_the_gpu_multicap_config_fits_and_reads_three_real_datasets(capsys):
    """configs/gpu-multicap.yaml: the multi_capability recipe on GSM8K, SciQ and e-SNLI with Qwen models."""
    from w2s_ray.config import load_config

    config = str(REPO / "configs/gpu-multicap.yaml")
    assert main(["plan", config, "--cluster", rayjob_cluster()]) == 0
    out = capsys.readouterr().out
    assert "every stage fits" in out
    for ask in ("generate weak/qwen2.5-0.5b", "train weak teacher", "bootstrap train", "Ray Train + TRL REWARD",
                "LoRA r=64", "ZeRO-2"):
        assert ask in out, ask
    mc = load_config(REPO / "configs/gpu-multicap.yaml").multi_capability
    assert {name: (s.format, s.train.split("@")[0]) for name, s in mc.sources.items()} == {
        "arithmetic": ("gsm8k", "hf:openai/gsm8k:main"), "facts": ("sciq", "hf:allenai/sciq"),
        "logic": ("esnli", "hf:esnli")}
