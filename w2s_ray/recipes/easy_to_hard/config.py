"""Config section of the easy_to_hard recipe (recipes/easy_to_hard/recipe.py; Sun et al. 2024, METHODS.md 4)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from w2s_ray.config.base import Added, Strict
from w2s_ray.recipes.easy_to_hard.rl_config import RlConfig, rl_plan_asks
from w2s_ray.train.config import TrainConfig


class EasyToHardConfig(Strict):
    """Policy and PRM learn from easy levels only; the policy's samples on every level are reranked.
    The paper published no sizes for a small testbed; these defaults suit the CPU world."""

    easy_levels: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    hard_levels: list[int] = Field(default_factory=lambda: [4, 5], min_length=1)  # SGR is measured on these
    # Gold problems of the training split (weak_train: the split with gold) for the policy's SFT,
    # drawn from the easy levels; SGR's upper bound (sgr_bound) gets as many.
    n_policy_problems: int = Field(default=400, ge=1)
    # Easy problems (after the policy's) the policy samples to label steps for the PRM.
    n_prm_problems: int = Field(default=200, ge=1)
    prm_samples: int = Field(default=4, ge=1)
    prm_temperature: float = Field(default=1.0, gt=0.0)
    label_source: Literal["gold", "step_check"] = "gold"
    # The PRM's starting weights. "base" (authors' default): their published command trains the PRM
    # from the base checkpoint (easy-to-hard examples/README.md, train_rm_pointwise.py
    # --checkpoint_path $MODEL_REPO/model.pth); "policy" (ours): from the easy-SFT policy.
    prm_from: Literal["policy", "base"] = "base"
    # Which tokens of a step carry its label in the PRM's loss. "every_token" (authors' default:
    # --train_on_every_token; data_utils/data_utils_rm_pointwise.py labels each token of the step,
    # its separator included, and none of the question's); "step_end" (ours): the step-end token only,
    # where the scorer reads the step's score.
    prm_label_tokens: Literal["every_token", "step_end"] = "every_token"
    # The final-answer step ("#### 19") labelled and scored after the others. True (authors' default):
    # their PRM data rates the step that holds "# Answer" like any other (data/prepare_prm800k_rm.py,
    # the "\n\n# Answer\n\n" completions); False (ours): only the steps before "####".
    prm_answer_step: bool = True
    prm_lr: float = Field(default=1e-4, gt=0.0)
    prm_epochs: float = Field(default=3.0, gt=0.0)
    # Samples per test problem and how they are drawn; the aggregate best-of-N ranks by.
    n: int = Field(default=8, ge=2)
    temperature: float = Field(default=0.7, gt=0.0)
    aggregate: Literal["prm_min", "prm_prod", "prm_last"] = "prm_min"
    step_sep: Literal["line", "blank_line"] = "line"
    # The PRM's step AUROC on hard levels against OmegaPRM Monte Carlo labels: k rollouts per probed
    # prefix (0: not measured), on up to mc_solutions wrong and as many right hard solutions.
    mc_rollouts: int = Field(default=0, ge=0)
    mc_solutions: int = Field(default=16, ge=1)
    # SGR's other two points: the strong base, unsupervised, and a strong model SFT'd on gold.
    sgr_bounds: bool = True
    # What that SFT learns from. "hard_levels" (authors' definition, Hase et al. 2024): gold of the hard
    # levels only, SGR's "hard-trained" model. "all_levels" (ours): gold of every
    # level; it is not SGR's bound, so its ratio is reported as `sgr_vs_all_levels_sft`, never as `sgr`.
    sgr_bound: Literal["hard_levels", "all_levels"] = "hard_levels"
    seed: int = 0
    # Reinforcement learning on hard problems with the easy-trained reward (rl_config.py); None: not run.
    rl: Annotated[RlConfig | None, Added(None)] = None

    @model_validator(mode="after")
    def _levels_apart(self):
        both = sorted(set(self.easy_levels) & set(self.hard_levels))
        if both:
            raise ValueError(f"levels {both} are both easy and hard")
        return self

    def prm_train_config(self, base: TrainConfig) -> TrainConfig:
        objective = "process_reward" if self.prm_label_tokens == "every_token" else "process_reward_step_end"
        return base.model_copy(update={"objective": objective, "lr": self.prm_lr, "epochs": self.prm_epochs,
                                       "max_steps": None,  # its own length, in epochs
                                       "early_stopping": None})  # SFT's only


# The bound's stage and report label, by what it learned from: an all-levels SFT is never labelled
# SGR's "hard-trained" model (nor the w2s recipes' "ceiling", whose PGR reads that label).
SGR_BOUND_LABELS = {"hard_levels": "hard_sft", "all_levels": "all_levels_sft"}


def sgr_bound_problems(train_split: list, e2h: EasyToHardConfig) -> list:
    """The gold problems SGR's upper bound is SFT'd on: as many as the policy got, from the hard levels
    (Hase et al.'s hard-trained model) or, with sgr_bound "all_levels", from every level."""
    pool = train_split if e2h.sgr_bound == "all_levels" else [p for p in train_split if p.level in e2h.hard_levels]
    return pool[:e2h.n_policy_problems]


SECTIONS = {"easy_to_hard": EasyToHardConfig}  # None: its defaults


def prm_gpus(device: str) -> float:
    """The PRM scorer's GPUs: one per actor on a GPU run (its class declares none, for CPU runs)."""
    return 1.0 if device == "gpu" else 0.0


def plan_asks(config, asks) -> list:
    """recipes/easy_to_hard/recipe.py: the policy samples for the PRM's data, the PRM trains, the policy
    samples n per test problem and the PRM scores each step (on a GPU when the run has them); with an `rl`
    section, the RL stages' rollout engines, reward scorers and GRPO train workers too."""
    from w2s_ray.score.stage import ScorerSpec

    e2h = config.easy_to_hard or EasyToHardConfig()
    sample = config.strong.model_copy(update={"n": e2h.n, "temperature": e2h.temperature})
    prm = ScorerSpec(name="process_reward_model", num_gpus=prm_gpus(asks.device))
    out = [asks.train("prm train", e2h.prm_train_config(config.train)),
           asks.generate("rerank sample (policy)", sample), asks.scorer(prm)]
    return out + (rl_plan_asks(config, asks, e2h.rl, prm) if e2h.rl is not None else [])
