"""Config section of the multi_capability recipe (recipes/multi_capability/recipe.py; METHODS.md 6, 7)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from w2s_ray.config.base import Added, Strict
from w2s_ray.train.config import TrainConfig


class RmSelectionConfig(Strict):
    """The outcome reward model that picks the valuable weak data (Zhou et al.). It is trained on the
    weak teachers' samples of weak-half questions (whose gold is the weak side's to read): a right
    sample or the gold solution against a wrong one. The paper published no selection rule: `rule`
    keeps the `top_fraction` the RM scores highest, or every solution scoring at least `threshold`."""

    rule: Literal["top_fraction", "threshold"] = "top_fraction"
    top_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    threshold: float = 0.0  # the RM's score (a logit: 0 is "even")
    questions: int = Field(default=100, ge=1)  # weak-half questions per capability for the RM's pairs
    samples: int = Field(default=4, ge=2)  # each weak teacher's samples of one
    temperature: float = Field(default=1.0, gt=0.0)
    max_pairs: int = Field(default=2, ge=1)  # pairs per (question, teacher)
    lr: float = Field(default=1e-4, gt=0.0)
    epochs: float = Field(default=1.0, gt=0.0)

    def cut(self) -> dict:
        """top_by_reward's keyword arguments for the rule."""
        return {"top_fraction": self.top_fraction} if self.rule == "top_fraction" else {"threshold": self.threshold}

    def train_config(self, base: TrainConfig) -> TrainConfig:
        return base.model_copy(update={"objective": "reward", "lr": self.lr, "epochs": self.epochs,
                                       "max_steps": None, "early_stopping": None})


# The capability a real dataset's format maps its rows to (data/capability_formats.py); "auto" and
# "w2s" rows name their own, checked when they load (recipes/multi_capability/data.py).
FORMAT_CAPABILITY = {"gsm8k": "arithmetic", "math": "arithmetic", "sciq": "facts", "esnli": "logic"}


class CapabilitySource(Strict):
    """A capability's real dataset instead of its testbed generator: `train` (a .jsonl or .parquet
    path, or hf:NAME[:CONFIG][@SPLIT]) is split into the weak and the strong half by content hash (Burns
    et al.'s halves, as data.source "files" does), `test` is the test split. Each split is cut to its
    size here (None: all of it), in content-hash order. Bad rows go to quarantine_dir/<capability>/,
    counted, where it is set, and fail the run where it is not. SciQ's options are shuffled by data.seed."""

    train: str
    test: str
    format: Literal["auto", "gsm8k", "math", "w2s", "sciq", "esnli"] = "auto"
    quarantine_dir: str | None = None
    n_weak_train: int | None = Field(default=None, ge=1)
    n_strong_train: int | None = Field(default=None, ge=1)
    n_test: int | None = Field(default=None, ge=1)


class MultiCapabilityConfig(Strict):
    """Several capabilities (data/capabilities), each its own demo splits of these sizes from
    data.seed, or a real dataset where `sources` names one; weak teachers label the strong half of
    every one. What the recipe runs beside the baselines (weak, strong base, ceiling, full weak FT,
    all on every capability mixed):

      independence     one student per capability, trained on that capability's weak data alone,
                       evaluated on every capability (the capability x capability matrix)
      bootstrap_rounds rounds of self-training: round 1 is full weak FT; round r > 1 trains the
                       round r-1 student on its own samples of the strong half (no weak data)
      rm               reward-model selection, then two-stage training: all weak data for
                       `first_epochs`, then the selected part for `second_epochs` (the paper: 2 each)
      logconf          Burns et al.'s confidence loss as a baseline on the choice capabilities (those
                       whose answer is one of given options: temporal, logic, facts): the strong model
                       trained with objective `logconf` (train.confidence's settings) on the weak
                       labels, and with its aux weight 0 (plain cross-entropy), both scored over the
                       options; the report pairs them per capability
    """

    capabilities: list[str] = Field(min_length=1)
    n_weak_train: int = Field(default=200, ge=1)  # per capability
    n_strong_train: int = Field(default=100, ge=1)
    n_test_per_level: int = Field(default=10, ge=1)
    independence: bool = True
    bootstrap_rounds: int = Field(default=3, ge=1)
    bootstrap_samples: int = Field(default=4, ge=1)  # samples of each strong-half question per round
    bootstrap_temperature: float = Field(default=1.0, gt=0.0)
    rm: RmSelectionConfig | None = Field(default_factory=RmSelectionConfig)  # None: no selection, no two-stage
    first_epochs: float = Field(default=2.0, gt=0.0)
    second_epochs: float = Field(default=2.0, gt=0.0)
    # capability -> its real dataset; a capability not named here keeps its testbed generator (and the
    # sizes above). Empty, the default, hashes as absent: configs from before it keep their hashes.
    sources: Annotated[dict[str, CapabilitySource], Added({})] = Field(default_factory=dict)
    logconf: Annotated[bool, Added(False)] = False

    @field_validator("capabilities")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        from w2s_ray.data.capabilities import check_names

        return list(check_names(names))

    @model_validator(mode="after")
    def _sources_fit_their_capabilities(self):
        for name, source in self.sources.items():
            if name not in self.capabilities:
                raise ValueError(f"sources.{name}: not one of the capabilities {self.capabilities}")
            made = FORMAT_CAPABILITY.get(source.format)
            if made is not None and made != name:
                raise ValueError(f"sources.{name}: format {source.format!r} makes {made} problems, not {name}")
        return self


SECTIONS = {"multi_capability": MultiCapabilityConfig}  # required

def check(config) -> None:
    if config.multi_capability is None:
        raise ValueError("recipe 'multi_capability' needs its section 'multi_capability' (the capabilities)")
    if not config.weak:
        raise ValueError("weak: the multi_capability recipe needs at least one weak teacher")
    if config.data.source != "world":
        raise ValueError("multi_capability: data.source must be 'world' (each capability's demo splits; "
                         "real datasets go in multi_capability.sources)")
    if config.multi_capability.logconf:
        from w2s_ray.recipes.multi_capability.choice_rows import is_choice

        if not any(is_choice(c) for c in config.multi_capability.capabilities):
            raise ValueError("multi_capability.logconf: needs a choice capability (temporal, logic or facts) in "
                             f"capabilities, got {config.multi_capability.capabilities}")


def rm_scorer_gpus(device: str) -> float:
    """The reward_model scorer's GPUs in the recipe's `rm/score` stage: one per actor on a GPU run."""
    return 1.0 if device == "gpu" else 0.0


def plan_asks(config, asks) -> list:
    """Beyond the shared stages: the bootstrap sampling, and the RM's samples (each weak teacher's),
    training and scoring of every weak solution (recipe.py's rm/score)."""
    from w2s_ray.score.stage import ScorerSpec

    mc = config.multi_capability
    sampler = config.strong.model_copy(update={"n": mc.bootstrap_samples, "temperature": mc.bootstrap_temperature})
    out = [asks.generate("bootstrap sample", sampler), asks.train("bootstrap train", config.train)]
    if mc.rm is not None:
        out += [asks.generate(f"rm sample weak/{t.name}", t.model_copy(update={"n": mc.rm.samples,
                                                                                "temperature": mc.rm.temperature}))
                for t in config.weak]
        out.append(asks.train("rm train", mc.rm.train_config(config.train)))
        out.append(asks.scorer(ScorerSpec(name="reward_model", num_gpus=rm_scorer_gpus(asks.device))))
    if mc.logconf:
        out.append(asks.train("logconf train", config.train.model_copy(update={"objective": "logconf"})))
    return out
