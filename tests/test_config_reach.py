"""What a GPU run needs to set from its config: vLLM engine arguments and replicas, train workers and
their GPUs, trackers, `--set` overrides on the command line; and MATH's stops. Checked against the
library objects they feed (the vLLM engines' spec, Ray Train's ScalingConfig, TRL's SFTConfig),
none started."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from w2s_ray.cli import main
from w2s_ray.config import ConfigError, TeacherConfig, load_config
from w2s_ray.generate.hf_engine import truncate_at_stop
from w2s_ray.generate.vllm_engine import engine_spec
from w2s_ray.raycluster.devices import train_scaling
from w2s_ray.raycluster.devices import engine_actor_resources
from w2s_ray.train.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent


def teacher(**fields) -> TeacherConfig:
    return TeacherConfig(name="t", model="m", **fields)


def test_vllm_engine_arguments_and_replicas_reach_the_engines():
    spec = engine_spec(teacher(concurrency=3, tensor_parallel_size=2, gpu_memory_utilization=0.8,
                               max_num_seqs=32, engine_kwargs={"enable_prefix_caching": True}),
                       "/models/m", "gpu", replicas=3)
    assert (spec.replicas, spec.tensor_parallel_size) == (3, 2)
    kwargs = dict(spec.engine_kwargs)
    assert (kwargs["tensor_parallel_size"], kwargs["gpu_memory_utilization"], kwargs["max_num_seqs"]) == (2, 0.8, 32)
    assert kwargs["enable_prefix_caching"] is True
    # A GPU and a CPU per tensor-parallel rank (one placement-group bundle each, on one node).
    assert engine_actor_resources("vllm", "gpu", 2) == {"GPU": 2.0, "CPU": 2.0}
    assert "gpu_memory_utilization" not in dict(engine_spec(teacher(), "/m", "gpu", 1).engine_kwargs)  # vLLM's default


def test_max_num_seqs_overrides_the_cpu_default(tiny_models):
    tiny_model_dir = tiny_models[0]
    assert dict(engine_spec(teacher(batch_size=200), tiny_model_dir, "cpu", 1).engine_kwargs)["max_num_seqs"] == 64
    assert dict(engine_spec(teacher(max_num_seqs=8), tiny_model_dir, "cpu", 1).engine_kwargs)["max_num_seqs"] == 8


def test_engine_kwargs_cannot_set_a_typed_field_a_second_way():
    with pytest.raises(ValueError, match="tensor_parallel_size"):
        teacher(engine_kwargs={"tensor_parallel_size": 4})


def test_train_workers_and_gpus_per_worker_reach_ray_train():
    config = TrainConfig(num_workers=4, gpus_per_worker=2, cpus_per_worker=4)
    scaling = train_scaling("gpu", config.num_workers, config.cpus_per_worker, config.gpus_per_worker)
    assert scaling.num_workers == 4 and scaling.use_gpu
    assert scaling.resources_per_worker == {"CPU": 4, "GPU": 2}


def test_trackers_reach_trls_report_to(tmp_path):
    from trl import SFTConfig

    from w2s_ray.train.worker_loop import trainer_arguments

    config = TrainConfig(report_to=["mlflow", "wandb"])
    assert config.trackers("/run/tensorboard/x") == ["tensorboard", "mlflow", "wandb"]
    assert config.trackers(None) == ["mlflow", "wandb"]  # logging: none drops only TensorBoard
    assert TrainConfig().trackers(None) == []
    args = SFTConfig(**trainer_arguments(config, "cpu", None, config.trackers(None), str(tmp_path)))
    assert args.report_to == ["mlflow", "wandb"]
    with pytest.raises(ValueError):
        TrainConfig(report_to=["neptune-typo"])


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"weak": [{"name": "w", "model": "weak-a"}, {"name": "v", "model": "weak-b"}],
                                    "strong": {"name": "s", "model": "world-student"}}))
    return path


def test_set_overrides_are_typed_by_the_config(config_file):
    config = load_config(config_file, sets=[
        "train.num_workers=4", "train.lora.r=8", "weak.1.tensor_parallel_size=2", "strong.gpu_memory_utilization=0.9",
        "strong.engine_kwargs.enable_prefix_caching=true", "stage2.n=4", "train.report_to=[tensorboard]",
        "strong.stop=['Question:']", "name=with spaces", "train.lr=5e-5"])
    assert config.train.num_workers == 4 and config.train.lora.r == 8
    assert config.weak[1].tensor_parallel_size == 2 and config.weak[0].tensor_parallel_size == 1
    assert config.strong.gpu_memory_utilization == 0.9
    assert config.strong.engine_kwargs == {"enable_prefix_caching": True}
    assert config.stage2.n == 4 and config.train.report_to == ["tensorboard"]
    assert config.strong.stop == ["Question:"] and config.name == "with spaces"
    assert config.train.lr == 5e-5  # YAML 1.2's float, as in a config file (YAML 1.1 reads a string)


@pytest.mark.parametrize("setting, message", [
    ("train.num_workerz=2", r"unknown key 'num_workerz' in train; it has: .*num_workers"),
    ("trian.lr=1", r"unknown key 'trian' in the config"),
    ("weak.tensor_parallel_size=2", r"weak is a list; index it, e.g. weak.0"),
    ("weak.5.max_tokens=2", r"weak has 2 item"),
    ("train.num_workers=many", r"field 'train.num_workers'"),
    ("train.num_workers", r"expected key.path=value"),
    ("name.first=x", r"name is a single value"),
])
def test_a_bad_set_names_the_key(config_file, setting, message):
    with pytest.raises(ConfigError, match=message):
        load_config(config_file, sets=[setting])


def test_w2s_run_set_with_an_unknown_key_exits_2(config_file, capsys):
    assert main(["run", str(config_file), "--set", "train.num_workerz=2"]) == 2
    err = capsys.readouterr().err
    assert "num_workerz" in err and "Traceback" not in err


def test_math_config_stops_do_not_cut_a_multi_paragraph_solution():
    solution = ("Let $x$ be the number.\n\nThen $2x + 3 = 13$, so $2x = 10$.\n\n"
                "Dividing by 2, $x = \\boxed{5}$.")
    config = load_config(REPO / "configs" / "gpu-math-w2s.yaml")
    for t in [*config.weak, config.strong]:
        assert "\\boxed{5}" in truncate_at_stop(solution + "\n\nQuestion: next", t.stop), t.name
        assert truncate_at_stop(solution + "\n\nQuestion: next", t.stop).strip() == solution
