"""`w2s plan` on GPU estimates each stage's memory per GPU from the model's config.json alone
(raycluster/memory.py, model_shape.py): numbers against a hand computation for a Qwen2.5-1.5B-shaped
config, DeepSpeed's own estimators for the ZeRO model states, a refused plan naming the stage and the
GiB, and the plan running where neither torch nor vLLM imports."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from w2s_ray.cli import main
from w2s_ray.models.hub import hub_config_json
from w2s_ray.raycluster.memory import GIB, RUNTIME_GIB, engine_memory, train_memory
from w2s_ray.raycluster.model_shape import ShapeUnknown, model_shape

REPO = Path(__file__).resolve().parent.parent
GPU_CONFIG = REPO / "configs/gpu-gsm8k-w2s.yaml"
# Qwen/Qwen2.5-1.5B's config.json, the keys the estimate reads (its q/k/v projections have biases).
QWEN_1_5B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536,
             "intermediate_size": 8960, "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2,
             "vocab_size": 151936, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
             "max_position_embeddings": 131072}
# By hand: per layer q 1536x1536 + 1536 bias, k and v 1536x256 + 256 each, o 1536x1536, gate/up/down
# 3 x 1536x8960, two norms 2x1536; 28 layers, the tied embedding 151936x1536, the final norm 1536.
LAYER = (1536 * 1536 + 1536) + 2 * (1536 * 256 + 256) + 1536 * 1536 + 3 * 1536 * 8960 + 2 * 1536
PARAMS = 28 * LAYER + 151936 * 1536 + 1536
# LoRA r=64 on all-linear: r x (in + out) per projection, 28 layers.
LORA_64 = 28 * 64 * ((1536 + 1536) + 2 * (1536 + 256) + (1536 + 1536) + 2 * (1536 + 8960) + (8960 + 1536))


@pytest.fixture()
def qwen(tmp_path) -> Path:
    model = tmp_path / "qwen2.5-1.5b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(QWEN_1_5B))
    return model


@pytest.fixture(autouse=True)
def no_cluster_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_the_shape_counts_qwen2_5_1_5b_parameters_by_hand(qwen):
    shape = model_shape(str(qwen))
    assert PARAMS == 1_543_714_304  # Qwen's published "1.54B"
    assert shape.params == PARAMS
    assert shape.lora_params(64, "all-linear") == LORA_64 == 73_859_072
    assert shape.lora_params(8, ["q_proj", "v_proj"]) == 28 * 8 * ((1536 + 1536) + (1536 + 256))
    assert shape.largest_layer_params == 151936 * 1536


def test_the_engine_estimate_is_weights_activations_and_kv_by_hand(qwen):
    est = engine_memory(model_shape(str(qwen)), "q", dtype="bfloat16", tensor_parallel=1, pipeline_parallel=1,
                        max_model_len=4096, max_num_seqs=256, gpu_memory_utilization=0.85,
                        engine_kwargs={}, gpu_gib=80)
    parts = dict(est.parts)
    assert parts["weights"] == pytest.approx(PARAMS * 2 / GIB)  # bf16
    kv_per_token = 2 * 28 * 2 * 128 * 2  # K and V, layers, KV heads, head size 1536/12, bf16
    assert parts["KV of one 4096-token sequence"] == pytest.approx(4096 * kv_per_token / GIB)
    # vLLM's profiling pass at 16384 batched tokens (its default on an 80-GiB GPU), one layer at a time,
    # and the sampler's fp32 logits and probabilities for 256 sequences
    per_token = 6 * 1536 + 2 * 256 + 4 * 8960
    assert parts["activations"] == pytest.approx((16384 * per_token * 2 + 256 * 151936 * 8) / GIB)
    assert est.budget_gib == pytest.approx(0.85 * 80)
    room = 0.85 * 80 - (PARAMS * 2 + 16384 * per_token * 2 + 256 * 151936 * 8) / GIB - RUNTIME_GIB
    assert f"{int(room * GIB // (4096 * kv_per_token))} sequences of 4096 tokens at once" in est.note
    # TP 2 halves the weights and the KV heads per GPU
    tp2 = dict(engine_memory(model_shape(str(qwen)), "q", dtype="bfloat16", tensor_parallel=2, pipeline_parallel=1,
                             max_model_len=4096, max_num_seqs=256, gpu_memory_utilization=0.85, engine_kwargs={},
                             gpu_gib=80).parts)
    assert tp2["weights"] == pytest.approx(parts["weights"] / 2)
    assert tp2["KV of one 4096-token sequence"] == pytest.approx(parts["KV of one 4096-token sequence"] / 2)


@pytest.mark.parametrize("zero", [2, 3])
def test_full_fine_tuning_model_states_are_deepspeeds_own_estimate(qwen, zero):
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    shape = model_shape(str(qwen))
    est = train_memory(shape, "q", objective="sft", workers=2, zero=zero, bf16=True, lora_r=None,
                       lora_targets="all-linear", batch=8, max_length=1024, checkpointing=True, gpu_gib=80)
    states = sum(gib for name, gib in est.parts if not name.startswith(("activations", "logits", "runtime")))
    if zero == 2:
        _, gpu = estimate_zero2_model_states_mem_needs(PARAMS, num_gpus_per_node=2, cpu_offload=False)
    else:
        _, gpu, _ = estimate_zero3_model_states_mem_needs(PARAMS, shape.largest_layer_params, num_gpus_per_node=2,
                                                          cpu_offload=False)
    assert states == pytest.approx(gpu / GIB, rel=1e-6)


def test_lora_training_estimate_by_hand(qwen):
    """The config of configs/gpu-gsm8k-w2s.yaml: LoRA r=64, ZeRO-2 on 2 GPUs, bf16, batch 8 x 1024."""
    parts = dict(train_memory(model_shape(str(qwen)), "q", objective="sft", workers=2, zero=2, bf16=True, lora_r=64,
                              lora_targets="all-linear", batch=8, max_length=1024, checkpointing=True, gpu_gib=80).parts)
    assert parts["weights"] == pytest.approx(2 * PARAMS / GIB)  # the whole model in bf16 on each GPU
    assert parts["gradients + optimizer (ZeRO-2)"] == pytest.approx(18 * LORA_64 / 2 / GIB)  # the adapter's only
    tokens, per_token = 8 * 1024, 6 * 1536 + 2 * 256 + 4 * 8960
    assert parts["activations (checkpointed)"] == pytest.approx((28 * tokens * 1536 * 2 + tokens * per_token * 2) / GIB)
    assert parts["logits"] == pytest.approx(tokens * 151936 * 10 / GIB)
    kept = dict(train_memory(model_shape(str(qwen)), "q", objective="sft", workers=2, zero=2, bf16=True, lora_r=64,
                             lora_targets="all-linear", batch=8, max_length=1024, checkpointing=False, gpu_gib=80).parts)
    assert kept["activations"] == pytest.approx(28 * tokens * per_token * 2 / GIB)  # ~19.5 GiB, the config note's
    assert 19 < kept["activations"] < 20 and 1.3 < parts["activations (checkpointed)"] < 1.5
    dpo = dict(train_memory(model_shape(str(qwen)), "q", objective="dpo", workers=2, zero=2, bf16=True, lora_r=64,
                            lora_targets="all-linear", batch=8, max_length=1024, checkpointing=True, gpu_gib=80).parts)
    assert dpo["logits"] == pytest.approx(2 * parts["logits"])  # chosen and rejected


def test_the_plan_prints_each_stages_memory_and_fits_80_gib(qwen, capsys):
    args = ["plan", str(GPU_CONFIG), "--set", f"strong.model={qwen}", "--set", f"weak.0.model={qwen}"]
    assert main([*args, "--cluster", "gpus=2,cpus=40"]) == 0
    out = capsys.readouterr().out
    assert "GPU memory per GPU" in out and "every stage fits" in out
    assert f"train (SFT) ({qwen}): weights 2.9 + gradients + optimizer (ZeRO-2) 0.6 + activations (checkpointed) 1.4" in out
    assert "of the 68.0 GiB vLLM may use (gpu_memory_utilization 0.85 x 80 GiB)" in out


def test_a_plan_that_cannot_fit_its_gpus_is_refused_with_the_gib_it_needs(qwen, capsys):
    args = ["plan", str(GPU_CONFIG), "--set", f"strong.model={qwen}", "--set", f"weak.0.model={qwen}"]
    assert main([*args, "--cluster", "gpus=2,cpus=40,gpu_memory_gib=24"]) == 1
    out = capsys.readouterr().out
    assert "does not fit: stage 'stage2 train' needs 30.4 GiB per GPU, more than 24 GiB (" in out
    assert "logits 23.2" in out  # the numbers it needs, by part
    assert "does not fit: stage 'train (SFT)'" not in out  # 17.4 GiB fits
    # half the batch, half the logits: every stage fits 24 GiB
    assert main([*args, "--cluster", "gpus=2,cpus=40,gpu_memory_gib=24", "--set", "train.per_device_batch_size=4"]) == 0
    assert "every stage fits" in capsys.readouterr().out
    # an engine whose weights and profiling pass leave no room for one max_model_len sequence
    assert main([*args, "--cluster", "gpus=2,cpus=40,gpu_memory_gib=4", "--set", "strong.gpu_memory_utilization=0.9"]) == 1
    out = capsys.readouterr().out
    assert "does not fit: stage 'generate strong (k-shot, eval, students)' needs" in out
    assert "more than the 3.6 GiB vLLM may use (gpu_memory_utilization 0.9 x 4 GiB)" in out
    # without a cluster the memory is still checked, against ray.gpu_memory_gib
    assert main([*args, "--set", "ray.gpu_memory_gib=24"]) == 1
    assert "GPUs and CPUs not checked (declare one with --cluster gpus=N,cpus=N); memory checked against 24-GiB GPUs" \
        in capsys.readouterr().out


def test_a_model_out_of_reach_gives_no_estimate_and_no_refusal(capsys, tmp_path):
    with pytest.raises(ShapeUnknown, match="offline"):
        model_shape("nowhere/model", hub_config_json)
    assert main(["plan", str(GPU_CONFIG), "--cluster", "gpus=2,cpus=40"]) == 0
    assert "no estimate: Qwen/Qwen2.5-1.5B: offline" in capsys.readouterr().out
    moe = tmp_path / "moe"
    moe.mkdir()
    (moe / "config.json").write_text(json.dumps({**QWEN_1_5B, "num_experts": 64}))
    with pytest.raises(ShapeUnknown, match="mixture-of-experts"):
        model_shape(str(moe))


def test_a_hub_id_is_read_from_the_hf_cache(tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--Qwen--Qwen2.5-1.5B" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(QWEN_1_5B))
    (tmp_path / "hub" / "models--Qwen--Qwen2.5-1.5B" / "refs").mkdir()
    (tmp_path / "hub" / "models--Qwen--Qwen2.5-1.5B" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert model_shape("Qwen/Qwen2.5-1.5B", hub_config_json).params == PARAMS


def test_the_plan_needs_neither_torch_nor_vllm(qwen):
    """Run where the plan is run (a laptop, a CPU head pod): torch, vLLM, transformers and DeepSpeed do
    not import, and the engine still comes from the config (vLLM on GPU)."""
    script = textwrap.dedent(f"""
        import sys, importlib.abc
        BLOCKED = ("torch", "vllm", "transformers", "deepspeed")
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} blocked")
        sys.meta_path.insert(0, Block())
        from w2s_ray.cli import main
        code = main(["plan", {str(GPU_CONFIG)!r}, "--cluster", "gpus=2,cpus=40", "--set", "strong.model={qwen}",
                     "--set", "strong.engine=auto"])
        assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED], "imported"
        sys.exit(code)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vLLM engine, TP 1" in done.stdout and f"train (SFT) ({qwen}): weights 2.9" in done.stdout


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_the_count_from_config_json_is_the_saved_models_own(family, tmp_path):
    """The formula against real checkpoints of both layouts (Qwen2: q/k/v biases, no config key for them),
    small ones built here with GQA and an untied head."""
    import torch
    from safetensors import safe_open
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    kwargs = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=300, tie_word_embeddings=False)
    config, cls = (LlamaConfig(**kwargs), LlamaForCausalLM) if family == "llama" else (Qwen2Config(**kwargs), Qwen2ForCausalLM)
    torch.manual_seed(0)
    cls(config).save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        saved = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    assert model_shape(str(tmp_path)).params == saved
