"""Config sections of the w2s_reasoning recipe (recipes/w2s_reasoning/recipe.py)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from w2s_ray.config.base import Added, Strict
from w2s_ray.train.config import TrainConfig


class Stage2Config(Strict):
    """Stage II of weak-to-strong reasoning (METHODS.md 1.5-1.7): the Stage-I student samples each
    question n times, a majority vote gives its confidence, pairs against the weak solution, then
    preference training. The paper published no lr, epochs or beta; these defaults suit LoRA."""

    n: int = Field(default=10, ge=2)
    # Sample only the first `questions` of the strong half (its order is fixed by the split), None: all.
    # n samples a question make this stage the run's costliest generation; a subset bounds it.
    questions: Annotated[int | None, Added(None)] = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, gt=0.0)
    max_tokens: int | None = Field(default=None, ge=1)  # None: the strong model's max_tokens
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)  # below: no pair
    flip_confidence: float = Field(default=0.8, ge=0.0, le=1.0)  # the student overrules the weak answer
    # Demonstrations in the sampling prompt (weak outputs, as in Stage I). 0, the paper's setting,
    # suits a student that Stage I taught the answer format; a student that barely trained only
    # states an answer when shown the format. Pairs always carry the zero-shot prompt.
    shots: int = Field(default=0, ge=0)
    # Pairs per (weak teacher, question). 3 (authors' default for MATH and OlympicArena, their
    # src/construct_training_data.py construct_paired_data_math; this project's data is MATH-style,
    # level-graded): up to 3 minority samples against an agreeing weak solution, up to 3 majority
    # samples of different text against an overruled one. 1: their GSM8K rule.
    max_pairs: int = Field(default=3, ge=1)
    objective: Literal["dpo", "orpo"] = "dpo"
    beta: float = Field(default=0.1, gt=0.0)
    lr: float = Field(default=5e-5, gt=0.0)  # LoRA; full fine-tuning usually wants ~5e-7..5e-6
    epochs: float = Field(default=1.0, gt=0.0)
    seed: int = 0

    @model_validator(mode="after")
    def _thresholds_ordered(self):
        if self.flip_confidence < self.min_confidence:
            raise ValueError(f"flip_confidence ({self.flip_confidence}) must be >= min_confidence "
                             f"({self.min_confidence})")
        return self

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """The run's training settings with this stage's objective, beta, lr and epochs."""
        return base.model_copy(update={"objective": self.objective, "beta": self.beta, "lr": self.lr,
                                       "epochs": self.epochs, "max_steps": None,  # its own length, in epochs
                                       "early_stopping": None})  # SFT's only


SECTIONS = {"stage2": Stage2Config}  # None: Stage I only
# Unset, stage2 hashes as null, not absent as other recipes' sections do: every recorded config hash
# holds it so, whatever its recipe.
HASHED_UNSET = {"stage2"}


# The names other upstream stages are read under beside the weak teachers' (recipe.py): a teacher
# so named would stand in for that stage's rows in a selection, or hide it as an input.
RESERVED_STAGE_NAMES = ("strong", "samples", "demos", "weak_side", "checkpoint", "model", "data")


def check(config) -> None:
    if not config.weak:
        raise ValueError("weak: the w2s_reasoning recipe needs at least one weak teacher")
    reserved = sorted({t.name for t in config.weak} & set(RESERVED_STAGE_NAMES))
    if reserved:
        raise ValueError(f"weak: teacher names {reserved} are reserved by the w2s_reasoning recipe for its "
                         f"own stages ({', '.join(RESERVED_STAGE_NAMES)}); rename the teacher")


def plan_asks(config, asks) -> list:
    """Beyond the shared stages (plan.stage_asks): Stage II's sampling and its preference training."""
    if config.stage2 is None:
        return []
    s2 = config.stage2
    sampler = config.strong.model_copy(update={"n": s2.n, "temperature": s2.temperature})
    return [asks.generate("stage2 sample", sampler), asks.train("stage2 train", s2.train_config(config.train))]
