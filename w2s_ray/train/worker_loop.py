"""What every Ray Train worker does whatever the objective: the shared trainer arguments, and the
body around one TRL trainer (process setup, train, metrics, LoRA merge, publish from rank 0).

A rank holds only its shard of the training rows (train/shards.py: ceil(n / world) rows, every
rank as many, so they take the same number of steps), and its trainer iterates that shard alone:
the HF trainer's own distributed sharding of the train loader is switched off (own_rows_only).
Early stopping's held-out rows are small and every rank holds them all (the HF trainer shards the
evaluation as before). The rows come as a stage's Dataset (Ray Train's `datasets=`), every rank
streaming it, validating each batch and keeping its shard; or, for rows a caller handed over as a
list, as the shard the driver put in the object store for this rank.
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from w2s_ray.run.environment import torch_summary
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.deepspeed_configs import zero_stage
from w2s_ray.train.early_stopping import holdout_of, keep_best_callback
from w2s_ray.train.shards import RankRows, split_rank_rows
from w2s_ray.train.worker_runtime import (
    attach_deepspeed_comm,
    finish_distributed,
    prepare_worker_process,
    quiet_prints,
    report_final,
    save_final_model,
    world_rank,
    world_size,
)

STREAM_BATCH_ROWS = 4096  # rows a worker reads and validates at a time from a stage's Dataset

# (config, shared TrainingArguments kwargs, base model dir, datasets.Dataset, tokenizer) -> TRL trainer
BuildTrainer = Callable[..., object]
# (trainer, config, n_rows, train_seconds) -> metrics dict
Measure = Callable[..., dict]


def trainer_arguments(config: TrainConfig, device: str, ds_config: dict | None, report_to: str,
                      output_dir: str) -> dict:
    """TrainingArguments kwargs every objective shares; SFTConfig, DPOConfig and ORPOConfig add their own."""
    return dict(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,  # set, it overrides num_train_epochs (transformers' own rule)
        learning_rate=config.lr,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        max_length=config.max_length,
        seed=config.seed,
        data_seed=config.seed,
        # TRL 1.16 defaults both to True; neither works for fp32 training on CPU (platform notes), so
        # both are set from the config, which turns them off on CPU.
        bf16=config.mixed_precision_bf16(device),
        gradient_checkpointing=config.checkpointing(device),
        use_cpu=device == "cpu",
        deepspeed=ds_config,
        report_to=report_to,
        logging_steps=config.logging_steps,
        save_strategy="no",  # the driver publishes the one final model; no mid-run pickles
        disable_tqdm=True,
        ddp_find_unused_parameters=False,  # every trained parameter gets a gradient; the search costs a pass
        dataloader_pin_memory=device == "gpu",
    )


def merged_dtype(config: TrainConfig, device: str) -> str:
    """The dtype a LoRA merge is saved in: the training's (bf16 under bf16 mixed precision, else fp32)."""
    return "bfloat16" if config.mixed_precision_bf16(device) else "float32"


def lora_peft_config(config: TrainConfig, task_type: str = "CAUSAL_LM"):
    if config.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=config.lora.target_modules,
        task_type=task_type,  # SEQ_CLS / TOKEN_CLS: PEFT also trains and saves the new head
    )


def epochs_trained(trainer, config: TrainConfig) -> float:
    """Passes over the rows actually made: `max_steps` or an early stop make it differ from `epochs`."""
    epoch = trainer.state.epoch
    return float(epoch) if epoch else float(config.epochs)


def run_metrics(trainer, n_rows: int, epochs: float, train_seconds: float) -> dict:
    """Loss per logging step, final loss and throughput, from the trainer's own log history.
    `epochs`: the passes made (epochs_trained)."""
    history = [
        {"step": entry["step"], "loss": float(entry["loss"])}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    samples = n_rows * epochs
    tokens = int(trainer.state.num_input_tokens_seen)  # non-pad tokens, summed over all ranks
    return {
        "loss_history": history,
        "final_train_loss": history[-1]["loss"] if history else None,
        "steps": int(trainer.state.global_step),
        "epochs": epochs,
        "samples": samples,
        "tokens": tokens,
        "train_seconds": train_seconds,
        "samples_per_second": samples / train_seconds if train_seconds > 0 else 0.0,
        "tokens_per_second": tokens / train_seconds if train_seconds > 0 else 0.0,
    }


def step_timer():
    """A trainer callback that times each optimizer step on this rank: the interval between one
    step's end and the next (batch, forward, backward, optimizer, logging: everything the loop does
    per step, an evaluation included where a step has one), the first from the loop's start (it
    carries the warm-up). Under data parallelism the
    ranks meet at every step's all-reduce, so one rank's steps are the group's."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.ends = [time.perf_counter()]

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

        def summary(self) -> dict:
            """first_step_seconds, and the median and mean of the steps after it (None with < 2 steps)."""
            steps = [b - a for a, b in zip(self.ends, self.ends[1:])]
            later = steps[1:]
            return {"first_step_seconds": steps[0] if steps else None,
                    "step_seconds_median": statistics.median(later) if later else None,
                    "step_seconds_mean": statistics.fmean(later) if later else None}

    return StepTimer()


def progress_reporter(board):
    """A trainer callback for rank 0: its step, the run's total and the last logged loss, to the
    driver's ProgressBoard (run/progress.py), fire and forget."""
    from transformers import TrainerCallback

    class ReportProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            board.put.remote(step=state.global_step, total=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                board.put.remote(loss=float(logs["loss"]))

    return ReportProgress()


def record_attempt(attempts_file: str | None) -> None:
    """Rank 0 appends a line per attempt to the run's storage (shared by every worker, as Ray Train
    requires), so the driver can report how often the worker group was restarted."""
    if attempts_file is None or world_rank() != 0:
        return
    Path(attempts_file).parent.mkdir(parents=True, exist_ok=True)
    with open(attempts_file, "a") as f:
        f.write(f"{os.getpid()}\n")


def worker_rows(loop_config: dict, config: TrainConfig) -> RankRows:
    """This rank's rows (the module docstring): the driver's shard for it, or its shard of a stage's
    rows read from their Dataset (train_job.StageRowsInput) and validated here by the objective's `rows`."""
    import ray

    rank, world = world_rank(), world_size()
    if "rows" in loop_config:
        return ray.get(loop_config["rows"][rank])
    import ray.train

    from w2s_ray.train.objectives import get_objective

    shard = ray.train.get_dataset_shard(loop_config["rows_dataset"])
    validate, n = get_objective(config.objective).rows, loop_config["n_rows"]

    def validated():
        """Every row, in order, validated a batch at a time: an error names the first bad row of all."""
        first = 0
        for batch in shard.iter_batches(batch_size=STREAM_BATCH_ROWS, batch_format="pyarrow"):
            if batch.num_rows:
                yield from validate(batch.to_pylist(), first)
                first += batch.num_rows

    held, n_held = None, 0
    early = config.early_stopping
    if early is not None:  # a first pass for the problems: which are held out depends on all of them
        held, n_held = holdout_of((row["prompt"] for row in validated()), early.holdout, config.seed)
    return split_rank_rows(validated(), n, rank, world, held, n_held)


def own_rows_only(trainer) -> None:
    """Make the trainer's train loader iterate this rank's rows, all of them: accelerate wraps it in a
    BatchSamplerShard that would hand each rank every world-th batch of what it holds. Neutralised as
    transformers neutralises it for its own rank-aware BatchRebalanceSampler (Trainer._get_dataloader),
    by making the wrapper a pass-through."""
    from accelerate.data_loader import BatchSamplerShard

    build = trainer.get_train_dataloader

    def get_train_dataloader():
        loader = build()
        batches = getattr(loader, "batch_sampler", None)
        if not isinstance(batches, BatchSamplerShard):
            raise RuntimeError(f"expected accelerate's BatchSamplerShard around the train loader, got "
                               f"{type(batches).__name__}: the ranks would not train on their own rows")
        batches.num_processes, batches.process_index = 1, 0
        return loader

    trainer.get_train_dataloader = get_train_dataloader


def build_seeded(build_trainer: BuildTrainer, config: TrainConfig, *args, **kwargs):
    """`build_trainer(config, ...)` with every RNG seeded by `config.seed` first. The HF Trainer seeds
    only in its own constructor, after the caller made the model: a new head (a reward model's
    classifier) or a LoRA adapter was drawn from the process's unseeded RNG, so one config trained
    another PRM in each run (two runs of demo-e2h-rl here: the same rows, other weights)."""
    from transformers import set_seed

    set_seed(config.seed)
    return build_trainer(config, *args, **kwargs)


def run_worker(loop_config: dict, build_trainer: BuildTrainer, measure: Measure, head: dict | None = None) -> None:
    """One worker's whole job; `loop_config` is built by train_job.run_train_job's callers. `head`:
    the model class a LoRA adapter is merged into (worker_runtime.save_final_model); None: causal LM."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    config = TrainConfig.model_validate(loop_config["train_config"])
    device = loop_config["device"]
    ds_config = loop_config["deepspeed"]
    prepare_worker_process(device, loop_config["torch_extensions_dir"], loop_config["tensorboard_dir"],
                           config.cpu_threads)
    record_attempt(loop_config.get("attempts_file"))
    rows = worker_rows(loop_config, config)
    if ds_config is not None:
        attach_deepspeed_comm()
    scratch = Path(tempfile.mkdtemp(prefix=f"w2s-{config.objective}-"))
    try:
        common = trainer_arguments(config, device, ds_config, loop_config["report_to"], str(scratch / "trainer"))
        tokenizer = AutoTokenizer.from_pretrained(loop_config["base_model_dir"])
        early = config.early_stopping
        extra, keeper = {}, None
        if early is not None:
            common.update(eval_strategy="steps", eval_steps=early.eval_steps,
                          per_device_eval_batch_size=config.per_device_batch_size)
            extra["eval_dataset"] = Dataset.from_list(rows.holdout)
        with quiet_prints():
            # A path, not a model: TRL loads it after the arguments registered the DeepSpeed config,
            # so ZeRO-3 partitions the weights as they load.
            trainer = build_seeded(build_trainer, config, common, loop_config["base_model_dir"],
                                   Dataset.from_list(rows.train), tokenizer, **extra)
        if world_size() > 1:
            own_rows_only(trainer)
        if early is not None:
            keeper = keep_best_callback(early.patience)
            trainer.add_callback(keeper)
        timer = step_timer()
        trainer.add_callback(timer)
        if loop_config.get("progress_board") is not None and world_rank() == 0:
            trainer.add_callback(progress_reporter(loop_config["progress_board"]))
        # train_runtime counts the training loop only, not DeepSpeed's engine set-up (~6 s on CPU).
        train_seconds = trainer.train().metrics["train_runtime"]
        metrics = {**measure(trainer, config, rows.n_train, train_seconds), **timer.summary()}
        metrics["torch"] = torch_summary()  # the threads and kernels this training ran with
        if keeper is not None:
            trainer.evaluate()  # the last weights are candidates too
            keeper.restore(trainer.model)
            metrics["early_stopping"] = {**keeper.report(), "holdout_rows": len(rows.holdout),
                                         "train_rows": rows.n_train}
        model_dir = scratch / "model"
        save_final_model(trainer, tokenizer, loop_config["base_model_dir"], config.lora is not None, model_dir, head,
                         merged_dtype=merged_dtype(config, device))
        report_final(metrics, model_dir if world_rank() == 0 else None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        finish_distributed(zero_stage(ds_config))
