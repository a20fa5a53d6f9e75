"""GPU memory per GPU of a stage, estimated from the model's shape (model_shape.py) and the config, for
`w2s plan`: a stage that cannot fit is refused before a cluster is asked for anything.

Estimates, meant to be right to within some tenths of a GiB, on the side of too much; every formula
names where it comes from:
- a vLLM engine: its weights, the activations of its profiling pass, and its KV cache, against the
  `gpu_memory_utilization` share of a GPU (vLLM refuses to start when the KV cache cannot hold one
  sequence of `max_model_len` tokens; with less than `max_num_seqs` such sequences it runs fewer at once);
- a training worker: the model states of DeepSpeed's own estimators for ZeRO-2 and ZeRO-3, re-implemented
  here because calling them needs deepspeed and torch (deepspeed 0.19.8,
  runtime/zero/stage_1_and_2.py `estimate_zero2_model_states_mem_needs` and runtime/zero/stage3.py
  `estimate_zero3_model_states_mem_needs`, both with cpu_offload=False: 2P + 18P/N and 4 x largest
  layer + 18P/N bytes); for plain data parallelism accelerate's parts for fp32 Adam (accelerate
  1.x, commands/estimate.py `estimate_training_usage`: model 4, gradients 4, optimizer 8 bytes a
  parameter), summed, as all are live at the optimizer step, and DDP's gradient buckets; gradients and
  optimizer for the trainable parameters only under LoRA; then the
  activations (per layer and token, the tensors a dense decoder keeps for its backward pass with
  flash attention and no dropout, in the manner of Korthikanti et al. 2022, "Reducing Activation
  Recomputation in Large Transformer Models"), and the logits with their fp32 copy for the loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from w2s_ray.raycluster.model_shape import DTYPE_BYTES, ModelShape

GIB = float(1 << 30)
# What a CUDA process holds beyond its tensors: context and kernels (~0.5 GiB), vLLM's CUDA graphs or
# NCCL's buffers, the allocator's slack.
RUNTIME_GIB = 1.0
# vLLM 0.32's defaults (config/cache.py CacheConfig.gpu_memory_utilization; engine/arg_utils.py
# get_batch_defaults for the LLM class: a GPU of 70 GiB or more gets the larger batch defaults).
VLLM_GPU_MEMORY_UTILIZATION = 0.92
PAIR_OBJECTIVES = ("dpo", "orpo")  # a row is a chosen and a rejected sequence, both through the model


def vllm_batch_defaults(gpu_gib: float) -> tuple[int, int]:
    """vLLM's max_num_batched_tokens and max_num_seqs for the LLM class on a GPU of this size."""
    return (16384, 1024) if gpu_gib >= 70 else (8192, 256)


@dataclass(frozen=True)
class MemoryEstimate:
    """One GPU's share of a stage, in GiB, by part, against what the stage may use of the GPU."""

    model: str
    parts: tuple[tuple[str, float], ...]
    budget_gib: float
    budget: str  # what the budget is, in words
    note: str = ""

    @property
    def total_gib(self) -> float:
        return sum(gib for _, gib in self.parts)

    @property
    def fits(self) -> bool:
        return self.total_gib <= self.budget_gib + 1e-9

    def summary(self) -> str:
        parts = " + ".join(f"{name} {gib:.1f}" for name, gib in self.parts)
        return f"{parts} = {self.total_gib:.1f} GiB per GPU of {self.budget}"


def _activation_elements_per_token_layer(shape: ModelShape, tensor_parallel: int = 1) -> int:
    """Elements one decoder layer keeps per token for its backward pass: attention (norm input, q/k/v,
    attention output) and the gated MLP (norm input, gate and up outputs, the activation, its product)."""
    return 6 * shape.hidden + 2 * shape.kv_dim + 4 * shape.intermediate // tensor_parallel


def engine_memory(shape: ModelShape, model: str, *, dtype: str, tensor_parallel: int, pipeline_parallel: int,
                  max_model_len: int, max_num_seqs: int | None, gpu_memory_utilization: float | None,
                  engine_kwargs: dict, gpu_gib: float) -> MemoryEstimate:
    """One GPU of a vLLM engine: the weights and activations of its share of the model, and its KV cache."""
    # dtype auto: the checkpoint's, fp32 cast down to 16 bits (vLLM's config/model.py _resolve_auto_dtype)
    wbytes = 4 if dtype == "float32" else 2
    kv_bytes = 1 if str(engine_kwargs.get("kv_cache_dtype", "auto")).startswith("fp8") else wbytes
    batched_default, seqs_default = vllm_batch_defaults(gpu_gib)
    batched = int(engine_kwargs.get("max_num_batched_tokens") or batched_default)
    seqs = max_num_seqs or seqs_default
    ranks = tensor_parallel * pipeline_parallel
    weights = shape.params * wbytes / ranks
    # The profiling pass: one layer's intermediates for max_num_batched_tokens tokens at a time, and the
    # sampler's fp32 logits and probabilities for max_num_seqs sequences.
    activations = batched * _activation_elements_per_token_layer(shape, tensor_parallel) * wbytes \
        + seqs * shape.vocab * 4 * 2
    kv_per_token = 2 * math.ceil(shape.layers / pipeline_parallel) * max(1, math.ceil(shape.kv_heads / tensor_parallel)) \
        * shape.head_dim * kv_bytes
    one_sequence = max_model_len * kv_per_token
    utilization = gpu_memory_utilization or VLLM_GPU_MEMORY_UTILIZATION
    budget = utilization * gpu_gib
    fixed = (weights + activations) / GIB + RUNTIME_GIB
    room = budget - fixed
    at_once = max(0, math.floor(room * GIB / one_sequence))
    note = (f"KV cache {max(room, 0):.1f} GiB: {at_once} sequences of {max_model_len} tokens at once"
            f"{'' if at_once >= seqs else f' (max_num_seqs {seqs} at full length: {seqs * one_sequence / GIB:.1f} GiB)'}")
    return MemoryEstimate(
        model=model,
        parts=(("weights", weights / GIB), ("activations", activations / GIB), ("runtime", RUNTIME_GIB),
               (f"KV of one {max_model_len}-token sequence", one_sequence / GIB)),
        budget_gib=budget,
        budget=f"the {budget:.1f} GiB vLLM may use (gpu_memory_utilization {utilization:g} x {gpu_gib:g} GiB)",
        note=note)


def hf_engine_memory(shape: ModelShape, model: str, *, dtype: str, batch_size: int, max_model_len: int,
                     gpu_gib: float) -> MemoryEstimate:
    """One HF generate actor: the weights, an unpaged KV cache of batch_size full-length sequences, and
    one layer's prefill intermediates with the batch's logits."""
    wbytes = DTYPE_BYTES[shape.dtype if dtype == "auto" else dtype]
    tokens = batch_size * max_model_len
    kv = tokens * 2 * shape.layers * shape.kv_dim * wbytes
    activations = tokens * _activation_elements_per_token_layer(shape) * wbytes + batch_size * shape.vocab * 4
    return MemoryEstimate(model=model, parts=(("weights", shape.params * wbytes / GIB),
                                              ("activations", activations / GIB), ("runtime", RUNTIME_GIB),
                                              (f"KV of {batch_size} x {max_model_len} tokens", kv / GIB)),
                          budget_gib=gpu_gib, budget=f"{gpu_gib:g} GiB")


def train_memory(shape: ModelShape, model: str, *, objective: str, workers: int, zero: int | None, bf16: bool,
                 lora_r: int | None, lora_targets: list[str] | str, batch: int, max_length: int,
                 checkpointing: bool, gpu_gib: float) -> MemoryEstimate:
    """One training worker's GPU (one data-parallel rank of `workers`). The trainers load the model in
    fp32 (sft_worker, preference_worker: fp32 master weights); DeepSpeed under bf16 keeps a 16-bit copy
    on the GPU and the fp32 master weights in the optimizer, which is the layout of its estimators."""
    total = shape.params
    trainable = shape.lora_params(lora_r, lora_targets) if lora_r else total
    frozen = total - trainable
    half = 2 if bf16 else 4  # DeepSpeed's module copy: bf16 under bf16, else the fp32 weights themselves
    # Per trainable parameter besides its weights: 16-bit + fp32 gradients, fp32 master weights and
    # Adam's two moments (DeepSpeed's 18); fp32 alone: gradients and the moments (12).
    states = 18 if bf16 else 12
    pairs = objective in PAIR_OBJECTIVES
    # DPO's reference model is the policy with the adapter off under LoRA, otherwise a frozen copy.
    reference = total if objective == "dpo" and not lora_r else 0
    if zero == 2:  # 2P + 18P/N, the trainable part partitioned
        parts = [("weights", (half * total + half * reference) / GIB),
                 ("gradients + optimizer (ZeRO-2)", states * trainable / workers / GIB)]
    elif zero == 3:  # 4 x largest layer + 18P/N; frozen weights partitioned too
        parts = [("weights (ZeRO-3 share)", half * (frozen + reference) / workers / GIB),
                 ("gradients + optimizer (ZeRO-3)", states * trainable / workers / GIB),
                 ("gathered layer", 4 * shape.largest_layer_params / GIB)]
    else:  # plain DDP: fp32 weights, gradients and Adam's moments (accelerate's parts), DDP's gradient buckets
        parts = [("weights", 4 * (total + reference) / GIB),
                 ("gradients + optimizer", 12 * trainable / GIB), ("DDP buckets", 4 * trainable / GIB)]
    abytes = 2 if bf16 else 4
    tokens = batch * max_length * (2 if pairs else 1)
    per_layer = tokens * _activation_elements_per_token_layer(shape) * abytes
    if checkpointing:  # each layer's input kept, one layer's intermediates recomputed at a time
        activations = shape.layers * tokens * shape.hidden * abytes + per_layer
    else:
        activations = shape.layers * per_layer
    logits = tokens * shape.vocab * (abytes + 8)  # the logits, their fp32 copy for the loss and its gradient
    label = "activations (checkpointed)" if checkpointing else "activations"
    parts += [(label, activations / GIB), ("logits", logits / GIB), ("runtime", RUNTIME_GIB)]
    note = f"{trainable / 1e6:,.1f}M of {total / 1e6:,.1f}M parameters trained"
    return MemoryEstimate(model=model, parts=tuple(parts), budget_gib=gpu_gib, budget=f"{gpu_gib:g} GiB",
                          note=note)
