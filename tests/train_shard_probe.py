"""An SFT loop that also says what each rank held and fed its model (tests/test_train_shards.py):
the real run_worker and SFT trainer, with the rows of every training step recorded and gathered to
rank 0's metrics ("ranks"). Importable by Ray's workers as tests.train_shard_probe."""
from __future__ import annotations

from w2s_ray.train.sft_worker import sft_metrics, sft_trainer
from w2s_ray.train.worker_loop import run_worker


def _recording_trainer(config, common, model_dir, dataset, tokenizer, **extra):
    trainer = sft_trainer(config, common, model_dir, dataset, tokenizer, **extra)
    trainer.probe = {"held": [row["prompt"] + row["completion"] for row in dataset], "fed": []}
    step = trainer.training_step

    def training_step(model, inputs, *args, **kwargs):
        mask = inputs["attention_mask"].bool()
        trainer.probe["fed"] += [ids[keep].tolist() for ids, keep in zip(inputs["input_ids"], mask)]
        return step(model, inputs, *args, **kwargs)

    trainer.training_step = training_step
    return trainer


def _gathered_metrics(trainer, config, n_rows, train_seconds):
    import torch.distributed as dist

    mine = {**trainer.probe, "steps": int(trainer.state.global_step),
            "shard_ids": [list(ids) for ids in trainer.train_dataset["input_ids"]]}
    ranks = [None] * dist.get_world_size()
    dist.all_gather_object(ranks, mine)
    return {**sft_metrics(trainer, config, n_rows, train_seconds), "ranks": ranks}


def probe_sft_loop(loop_config: dict) -> None:
    run_worker(loop_config, _recording_trainer, _gathered_metrics)
