"""A training worker seeds every RNG before it builds its trainer: a reward model's new head (and a LoRA
adapter) are drawn when the model is made, before the HF Trainer seeds, so without it one config trained
another PRM in each run (demo-e2h-rl twice: prm/labels identical, prm/train's weights not)."""
from __future__ import annotations

import torch
from datasets import Dataset
from transformers import AutoTokenizer

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.reward_worker import process_rm_trainer
from w2s_ray.train.worker_loop import build_seeded, trainer_arguments

ROWS = [{"prompt": "Question: 1 + 2?\nAnswer:", "steps": ["1 + 2 = 3", "#### 3"], "labels": [1, 1]}]


def _head(build, tiny_models, tmp_path, rng_state):
    model_dir = tiny_models[1]
    config = TrainConfig(objective="process_reward", max_length=128, logging="none", seed=7)
    common = trainer_arguments(config, "cpu", None, "none", str(tmp_path / f"t{rng_state}"))
    torch.manual_seed(rng_state)  # what the worker process's RNG happened to hold
    trainer = build(config, common, model_dir, Dataset.from_list(ROWS), AutoTokenizer.from_pretrained(model_dir))
    return trainer.model.score.weight.detach().clone()


def test_the_new_head_is_the_seeds_whatever_the_process_rng_held(tiny_models, tmp_path):
    seeded = [_head(lambda *a: build_seeded(process_rm_trainer, *a), tiny_models, tmp_path, s) for s in (1, 2)]
    assert torch.equal(seeded[0], seeded[1])
    unseeded = [_head(process_rm_trainer, tiny_models, tmp_path, s) for s in (1, 2)]
    assert not torch.equal(unseeded[0], unseeded[1])  # the fault this guards against
