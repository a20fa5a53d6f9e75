"""Weak teachers for the demo world: tiny Llamas trained from scratch on gold solutions, cached.

A weak teacher is the "weak model fine-tuned on the gold half" of weak-to-strong training: it is
trained on the first n_train_problems of the weak_train split of `build_demo_splits(world_seed,
split_weak_train, split_strong_train, split_test_per_level)`. Which split a question lands in
depends on all three sizes, so a pipeline must take its strong_train and test splits from
`weak_teacher_splits(recipe)` (or the same arguments) for them to stay disjoint from what the
teacher saw. The default recipes share one split, so either teacher fits the same pipeline.

A teacher of several capabilities (issue 28: `capabilities` names them, data/capabilities) learns
each one's target format from the first n_train_problems of that capability's own weak_train split
(the same sizes), interleaved, with the vocabulary of those capabilities (build_world_tokenizer), so
teacher and a student pretrained on them read one vocabulary. Without them, a teacher is what it was.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from w2s_ray.config.base import Added, hash_exclude

from w2s_ray.data.schema import Problem
from w2s_ray.models.cache import cached_model
from w2s_ray.models.pretrain import PretrainConfig, pretrain
from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, count_parameters, save_model_dir
from w2s_ray.models.word_tokenizer import build_world_tokenizer, vocabulary_sha256
from w2s_ray.run.environment import build_environment
from w2s_ray.text.prompts import completion_text, zero_shot

WEAK_TEACHER_KIND = "weak-teacher"
# Bump when what a build does changes beyond what its cache key holds (the recipe, and the training
# data and vocabulary hashes): a build made by other code must not be reused.
WEAK_TEACHER_VERSION = "4"
TRAINING_REPORT = "training.json"


class WeakTeacherRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    hidden: int = 64
    layers: int = 3
    heads: int = 4
    head_dim: int = 32  # vLLM's CPU attention serves head sizes 32, 64, 80, ... only
    init_std: float = 0.1
    number_features: bool = True
    n_train_problems: int = 20000  # taken from the start of weak_train
    train_seconds: float | None = None  # a safety cap; max_steps is the deterministic budget
    max_steps: int | None = 1600
    lr: float = 5e-3
    batch: int = 16
    seq_len: int = 128
    answer_only_loss: bool = True
    seed: int = 0
    world_seed: int = 0
    split_weak_train: int = 20000
    split_strong_train: int = 2000
    split_test_per_level: int = 100
    # At its Added value the field hashes as absent: teachers built before capabilities keep their keys.
    capabilities: Annotated[tuple[str, ...], Added(("arithmetic",))] = ("arithmetic",)

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        from w2s_ray.data.capabilities import check_listed

        return check_listed(names)

    def record(self) -> dict:
        """The recipe as cache keys and build stages hash it (an `Added` field at its value left out)."""
        return self.model_dump(mode="json", exclude=hash_exclude(self))

    @model_validator(mode="after")
    def _trains_within_its_split(self) -> "WeakTeacherRecipe":
        if self.n_train_problems > self.split_weak_train:
            raise ValueError("n_train_problems must be <= split_weak_train")
        return self


DEFAULT_RECIPES: dict[str, WeakTeacherRecipe] = {
    "weak-a": WeakTeacherRecipe(name="weak-a"),
    "weak-b": WeakTeacherRecipe(name="weak-b", n_train_problems=5000, max_steps=800),
    # A teacher well below the CPU student's gold ceiling, so that the demo's PGR has room to move.
    "weak-c": WeakTeacherRecipe(name="weak-c", n_train_problems=2000, max_steps=400),
    # Arithmetic right, chaining weak: one layer learns the facts (4.7 % of its steps wrong on the strong
    # half, weak-b 43 %) but not which sentence is step i, so 80 % of its wrong answers are reasoning
    # errors (a wrong operator or operand: another step's), not wrong facts (weak-b: 0 %). 48 % on the
    # test split, L1 98 %, L2 80 %, L3-5 10-30 % (bench/teacher_errors.py). The student fine-tuned on its
    # answers to the strong half: 56.5 % after 113 packed steps (~3 epochs), 49.5 % after 375 (~10):
    # it learns these errors too, given the passes (bench/w2s_variants.py, plain loop).
    "weak-r1": WeakTeacherRecipe(name="weak-r1", hidden=128, layers=1, max_steps=3000),
    # A teacher of every capability (issue 28; configs/demo-multicap.yaml), 2,000 weak-half problems of
    # each. Built in 185 s quiet, 2026-12-07 evening, with temporal's target solutions restating then
    # walking (3,846 s at load 30-70 before). On the demo's test split, 100 a capability (the run's
    # baselines/weak eval): arithmetic 19 %, temporal 34 % (two options: below chance; it restates no
    # question right, bench/temporal_parts.py), commands 6 %, logic 54 % (three options), facts 29 %
    # (four). The build before: 32 / 43 / 4 / 74 / 25 (bench/multicap_weak_probe.py, HF generate). It
    # writes each choice capability's marker in every answer, so its logconf rows are not quarantined.
    "weak-multicap": WeakTeacherRecipe(name="weak-multicap", n_train_problems=2000, max_steps=1600,
                                       split_weak_train=2000, split_strong_train=400, split_test_per_level=100,
                                       capabilities=("arithmetic", "temporal", "commands", "logic", "facts")),
}


def weak_teacher_splits(recipe: WeakTeacherRecipe) -> dict[str, list[Problem]]:
    """The demo splits this teacher belongs to; it was trained on "weak_train" (gold solutions)."""
    from w2s_ray.data.splits import build_demo_splits

    return build_demo_splits(
        recipe.world_seed, recipe.split_weak_train, recipe.split_strong_train, recipe.split_test_per_level
    )


def training_problems(recipe: WeakTeacherRecipe) -> list[Problem]:
    """What the teacher trains on: the start of weak_train, of every capability it names (interleaved)."""
    if recipe.capabilities == ("arithmetic",):
        return weak_teacher_splits(recipe)["weak_train"][: recipe.n_train_problems]
    from w2s_ray.data.capabilities import capability_splits

    per_capability = [capability_splits(name, recipe.world_seed, recipe.split_weak_train, recipe.split_strong_train,
                                        recipe.split_test_per_level)["weak_train"][: recipe.n_train_problems]
                      for name in recipe.capabilities]
    return [p for group in zip(*per_capability) for p in group]


def training_examples(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(zero_shot(p.question), completion_text(p.solution)) for p in problems]


@functools.lru_cache(maxsize=8)  # ~1.5 s; a run needs it for the manifest stage and the cache key
def training_data_sha256(recipe: WeakTeacherRecipe) -> str:
    examples = training_examples(training_problems(recipe))
    return hashlib.sha256(json.dumps(examples).encode()).hexdigest()


def build_inputs(recipe: WeakTeacherRecipe) -> dict[str, str]:
    """What a build reads beside the recipe; part of the cache key, so a change to either rebuilds."""
    return {"data_sha256": training_data_sha256(recipe),
            "vocabulary_sha256": vocabulary_sha256(build_world_tokenizer(recipe.capabilities))}


def train_weak_teacher(recipe: WeakTeacherRecipe, out_dir: Path, threads: int | None = None) -> None:
    """Build, train and save the teacher into out_dir (uncached; see build_weak_teacher)."""
    tokenizer = build_world_tokenizer(recipe.capabilities)
    shape = TinyLlamaShape(
        hidden=recipe.hidden,
        layers=recipe.layers,
        heads=recipe.heads,
        head_dim=recipe.head_dim,
        init_std=recipe.init_std,
        number_features=recipe.number_features,
    )
    model = build_tiny_llama(tokenizer, shape, seed=recipe.seed)
    config = PretrainConfig(
        seq_len=recipe.seq_len,
        batch=recipe.batch,
        lr=recipe.lr,
        max_steps=recipe.max_steps,
        train_seconds=recipe.train_seconds,
        answer_only_loss=recipe.answer_only_loss,
        seed=recipe.seed,
        threads=threads,
    )
    result = pretrain(model, tokenizer, training_examples(training_problems(recipe)), config, label=recipe.name)
    save_model_dir(model, tokenizer, out_dir)
    report = {
        "parameters": count_parameters(model),
        # Same recipe, threads and torch build: the same weights (seeded init and data order); another
        # thread count or CPU kernel may round differently, so both are recorded.
        "torch_threads": threads or torch.get_num_threads(),
        "torch_version": torch.__version__,
        "environment": build_environment(),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "tokens_per_second": round(result.tokens_per_second),
        "final_loss": sum(result.losses[-20:]) / len(result.losses[-20:]) if result.losses else None,
    }
    (out_dir / TRAINING_REPORT).write_text(json.dumps(report, indent=2))


def build_weak_teacher(
    recipe: WeakTeacherRecipe | str, cache_dir: str | Path | None = None, threads: int | None = 1
) -> Path:
    """The cached model directory of this teacher (a default recipe's name or a recipe).

    One torch thread by default: the same numbers on any machine, and on a shared 2-core machine
    two threads ran up to ~30x slower whenever another process took a core (measured).
    """
    if isinstance(recipe, str):
        recipe = DEFAULT_RECIPES[recipe]
    return cached_model(
        WEAK_TEACHER_KIND,
        {**recipe.record(), "inputs": build_inputs(recipe)},
        lambda out: train_weak_teacher(recipe, out, threads),
        cache_dir,
        code_version=WEAK_TEACHER_VERSION,
    )
