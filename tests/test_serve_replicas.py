"""serve.replicas: how many model replicas serve the student, in the Serve app, the plan and the
embedded Ray's extra CPUs (a swap briefly holds twice as many)."""
from __future__ import annotations

from pathlib import Path

from w2s_ray.cli import main

REPO = Path(__file__).resolve().parent.parent
GPU_CONFIG = REPO / "configs/gpu-gsm8k-w2s.yaml"


def test_the_plan_counts_every_replica_twice_during_a_swap(capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # one replica (2 GPUs during a swap) fits beside the loop on 4 GPUs; three (6 during a swap) do not
    assert main(["plan", str(GPU_CONFIG), "--cluster", "gpus=4,cpus=40", "--serve"]) == 0
    capsys.readouterr()
    assert main(["plan", str(GPU_CONFIG), "--cluster", "gpus=4,cpus=40", "--serve",
                 "--set", "serve.replicas=3"]) == 1
    out = capsys.readouterr().out
    assert "3 x vLLM replica (6 during a swap)" in out and "with serve beside it needs" in out


def _round_1_spec(model: str, serve=None, **teacher):
    """The app spec of round 1 served from `model` on CPU."""
    from w2s_ray.config import ServeConfig, TeacherConfig
    from w2s_ray.serve.app import AppSpec

    return AppSpec(model_id="tiny-round-1", model_dir=model, run_name="tiny", device="cpu",
                   teacher=TeacherConfig(name="strong", model=model, dtype="float32", **teacher),
                   serve=serve or ServeConfig())


def test_the_serve_app_deploys_the_configured_replicas(tiny_models):
    from w2s_ray.config import ServeConfig
    from w2s_ray.serve.app import llm_config

    config = llm_config(_round_1_spec(tiny_models[1], ServeConfig(replicas=3, num_cpus=0.25)))
    assert config.deployment_config["num_replicas"] == 3
    assert config.placement_group_config == {"bundles": [{"CPU": 0.25}]}  # per replica


def test_an_embedded_ray_beside_the_loop_gets_cpus_for_every_replica_of_a_swap(monkeypatch):
    from w2s_ray.config import RunConfig
    from w2s_ray.serve.server import serving_ray_cpus

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = RunConfig(weak=[{"name": "w", "model": "m"}], strong={"name": "s", "model": "m"},
                       ray={"num_cpus": 2}, serve={"replicas": 3, "num_cpus": 0.5})
    assert serving_ray_cpus(config) == 2 + 3  # 2 x 3 replicas x 0.5 CPU
    one = config.model_copy(update={"serve": config.serve.model_copy(update={"replicas": 1})})
    assert serving_ray_cpus(one) == 2 + 1


def test_a_replica_start_runs_no_model_download_task_for_a_checkpoint_on_a_path(tiny_models):
    """ray.serve.llm would start a worker process per node only to "download" a local path (~5 s a swap)."""
    import asyncio

    from w2s_ray.serve.app import llm_config

    config = llm_config(_round_1_spec(tiny_models[1]))
    callback = config.callback_config.callback_class(llm_config=config)
    assert callback.ctx.run_init_node  # ray.serve.llm's default
    asyncio.run(callback.run_callback("on_before_node_init"))  # as the replica calls it, before the engine
    assert callback.ctx.run_init_node is False


def test_a_one_device_cpu_replica_runs_the_model_in_vllms_engine_core(tiny_models):
    """ray.serve.llm gives vLLM its multiprocessing executor on CPU: a worker process (and a vLLM import)
    more per replica start. On one device the engine runs the model in its engine core instead."""
    from ray.llm._internal.common.callbacks.base import CallbackCtx
    from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine
    from vllm.v1.executor.abstract import Executor
    from vllm.v1.executor.uniproc_executor import UniProcExecutor

    from w2s_ray.serve.app import llm_config
    from w2s_ray.serve.engine import OneDeviceInProcessEngine

    spec = _round_1_spec(tiny_models[1], max_model_len=256)
    _, _, stock = VLLMEngine(llm_config(spec))._prepare_engine_config(CallbackCtx())
    assert stock.parallel_config.distributed_executor_backend == "mp"  # what this engine exists to change
    args, _, ours = OneDeviceInProcessEngine(llm_config(spec))._prepare_engine_config(CallbackCtx())
    assert ours.parallel_config.distributed_executor_backend == args.distributed_executor_backend == "uni"
    assert Executor.get_class(ours) is UniProcExecutor


def test_a_gpu_replica_holds_the_strong_models_tensor_x_pipeline_ranks(tmp_path, capsys, monkeypatch):
    """Not 1 GPU whatever the model needs: the replica's placement and vLLM's ranks come from the config,
    and the plan counts them (a swap: twice)."""
    import json

    from w2s_ray.config import ServeConfig, TeacherConfig
    from w2s_ray.serve.app import AppSpec, llm_config

    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    for tp, pp, gpus in [(1, None, 1), (2, None, 2), (2, 2, 4)]:
        teacher = TeacherConfig(name="strong", model=str(tmp_path), tensor_parallel_size=tp,
                                engine_kwargs={"pipeline_parallel_size": pp} if pp else {})
        config = llm_config(AppSpec(model_id="m", model_dir=str(tmp_path), run_name="r", teacher=teacher,
                                    serve=ServeConfig(replicas=2), device="gpu", embedded=False))
        assert config.placement_group_config["bundles"] == [{"GPU": 1, "CPU": 1}] * gpus
        assert (config.engine_kwargs["tensor_parallel_size"], config.engine_kwargs["pipeline_parallel_size"]) == \
            (tp, pp or 1)
        assert config.deployment_config["num_replicas"] == 2
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = ["plan", str(GPU_CONFIG), "--serve", "--set", "strong.tensor_parallel_size=2"]
    assert main([*args, "--cluster", "gpus=6,cpus=40"]) == 1  # 4 for serve's swap + the loop's 2 engines x 2
    out = capsys.readouterr().out
    assert "vLLM replica, 2 GPUs each (2 during a swap)" in out and "with serve beside it needs 8 GPUs" in out
    assert main([*args, "--cluster", "gpus=8,cpus=40"]) == 0


def test_pipeline_parallel_size_must_be_a_whole_number():
    import pytest
    from pydantic import ValidationError

    from w2s_ray.config import TeacherConfig

    with pytest.raises(ValidationError, match="pipeline_parallel_size"):
        TeacherConfig(name="s", model="m", engine_kwargs={"pipeline_parallel_size": "2"})
