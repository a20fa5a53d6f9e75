"""What every Ray Train worker loop needs around an HF/TRL trainer: process setup, saving, reporting.

Runs inside the train workers. Kept apart from the SFT loop so the DPO and other loops share it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle")


def default_torch_extensions_dir() -> str:
    """Where DeepSpeed caches its JIT-compiled ops (~36-60 s to build once on CPU)."""
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return os.environ["TORCH_EXTENSIONS_DIR"]
    from w2s_ray.config.base import default_cache_dir

    return str(default_cache_dir() / "torch_extensions")


def cpu_threads_per_worker() -> int:
    """This node's cores shared among the train workers on it.

    Oversubscribed (2 workers x 2 threads on 2 cores) a tiny model ran ~35x slower (platform notes),
    hence never more threads than a fair share; but a lone worker held to one thread left half of a
    2-core machine idle while SmolLM2 trained (Ray's CPU request stays fractional, so that a Serve
    replica beside the loop still fits: threads are not Ray's logical CPUs).
    """
    from ray import train

    local_workers = max(1, train.get_context().get_local_world_size())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // local_workers)


def prepare_worker_process(device: str, torch_extensions_dir: str, tensorboard_dir: str | None,
                           cpu_threads: int | None = None) -> None:
    """Call first in a worker loop, before the trainer exists. `cpu_threads` (train.cpu_threads):
    the same count on every machine; None: a fair share of this node's cores."""
    import datasets
    import torch
    import transformers

    from w2s_ray.run.kernels import check_pinned

    check_pinned()  # a pinned run's worker computes with the pin's kernels, or says why not
    if device == "cpu":
        torch.set_num_threads(cpu_threads or cpu_threads_per_worker())
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", torch_extensions_dir)
    if tensorboard_dir:
        # transformers 5 takes the TensorBoard directory from this variable only; rank 0 writes.
        os.environ["TENSORBOARD_LOGGING_DIR"] = tensorboard_dir
    # Progress bars, info logs and per-collective deprecation warnings (ZeRO-3 on gloo: hundreds
    # per run, from DeepSpeed's calls into torch) flood the driver's log through Ray.
    warnings.filterwarnings("ignore", message=r"`torch\.distributed\.\w+` is deprecated", category=FutureWarning)
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()
    transformers.logging.set_verbosity_warning()


@contextlib.contextmanager
def quiet_prints():
    """Keep print() output out of the driver's log while TRL prepares the dataset.

    datasets fingerprints each map function with dill, whose global-name search disassembles the
    function's bytecode into a captured stdout. Ray Train 2.60 workers route every print() to the
    root logger at INFO as well (ray/train/v2/_internal/logging/patch_print.py), so ~1,300 lines
    of bytecode reached the driver's log (measured); redirecting stdout does not stop it.
    """
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def attach_deepspeed_comm() -> None:
    """Hand Ray Train's process group to DeepSpeed's comm layer before any model is built.

    Accelerate calls deepspeed.init_distributed only when torch.distributed is not up yet; under
    Ray Train it already is, so ZeRO-3's load-time partitioning found no DeepSpeed comm, assumed
    world size 1 and failed its batch-size check (measured). With torch.distributed initialised,
    init_distributed only wraps the existing group.
    """
    import deepspeed

    deepspeed.init_distributed()


def world_rank() -> int:
    import ray.train

    return ray.train.get_context().get_world_rank()


def world_size() -> int:
    import ray.train

    return ray.train.get_context().get_world_size()


def drop_pickles(model_dir: Path) -> None:
    """The HF trainer also writes training_args.bin (a pickle); the model dir holds safetensors only.

    Loading a pickle executes code, and the next round loads this directory.
    """
    for path in model_dir.iterdir():
        if path.suffix in PICKLE_SUFFIXES:
            path.unlink()


def save_final_model(trainer, tokenizer, base_model_dir: str, merge_lora: bool, dest: Path,
                     head: dict | None = None, merged_dtype: str = "float32") -> None:
    """Write a plain HF model dir (safetensors + tokenizer) into `dest` on rank 0.

    Every rank must call this: under ZeRO-3 save_model gathers the sharded weights collectively.
    A LoRA run saves its adapter, then rank 0 merges it into a fresh copy of the base model. That
    one path serves plain DDP, ZeRO-2 and ZeRO-3 alike: merging in place would need the full
    weights, which ZeRO-3 never holds in one process. `head`: how to load the base for the merge
    ({"auto_class": "AutoModelForTokenClassification", "num_labels": 2}); None: a causal LM.
    `merged_dtype`: what a merged model is saved in, the training's dtype (a 1.5B model merged in fp32
    is ~6 GB a round, in bf16 ~3 GB, and the next stage reads bf16 weights either way on GPU).
    """
    if not merge_lora:
        trainer.save_model(str(dest))
        if world_rank() == 0:
            tokenizer.save_pretrained(str(dest))
            drop_pickles(dest)
        return
    adapter_dir = Path(tempfile.mkdtemp(prefix="w2s-adapter-"))
    try:
        trainer.save_model(str(adapter_dir))
        if world_rank() == 0:
            _merge_adapter(base_model_dir, adapter_dir, tokenizer, dest, head, merged_dtype)
    finally:
        shutil.rmtree(adapter_dir, ignore_errors=True)


def _merge_adapter(base_model_dir: str, adapter_dir: Path, tokenizer, dest: Path, head: dict | None = None,
                   dtype: str = "float32") -> None:
    import torch
    import transformers
    from peft import PeftModel
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    # With a ZeRO-3 config still registered, from_pretrained would partition the fresh base model
    # (a collective) on rank 0 alone and hang.
    unset_hf_deepspeed_config()
    kwargs = dict(head or {"auto_class": "AutoModelForCausalLM"})
    auto_class = getattr(transformers, kwargs.pop("auto_class"))
    # A classification head is new (random) in the base; the adapter saved its trained copy
    # (PEFT's modules_to_save for SEQ_CLS / TOKEN_CLS), which replaces it here.
    base = auto_class.from_pretrained(base_model_dir, dtype=torch.float32, **kwargs)
    if head is not None and base.config.pad_token_id is None:  # a classifier reads it to find the end
        base.config.pad_token_id = tokenizer.pad_token_id
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    # Merged in fp32 (W + BA rounded once), then cast: save_pretrained writes the tensors' dtype and
    # records it in config.json.
    merged.to(getattr(torch, dtype)).save_pretrained(str(dest))
    tokenizer.save_pretrained(str(dest))
    drop_pickles(dest)


def report_final(metrics: dict, model_dir: Path | None) -> None:
    """Every rank reports once (Ray Train's report is a barrier); only rank 0 brings the model.

    The model travels as a Ray Train checkpoint to the run's storage_path, so the driver finds it
    there even when rank 0 ran on another node (given shared storage, as Ray Train requires).
    """
    import ray.train

    if model_dir is None:
        ray.train.report(metrics)
        return
    checkpoint = ray.train.Checkpoint.from_directory(str(model_dir))
    ray.train.report(metrics, checkpoint=checkpoint, delete_local_checkpoint_after_upload=True)


def finish_distributed(zero_stage: int) -> None:
    """Under ZeRO-3 the process aborts at exit unless the process group is destroyed first."""
    import torch.distributed as dist

    if zero_stage == 3 and dist.is_initialized():
        dist.destroy_process_group()
