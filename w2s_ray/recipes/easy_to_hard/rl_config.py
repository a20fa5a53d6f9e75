"""The `easy_to_hard.rl` section: reinforcement learning on hard problems with an easy-trained reward
(Sun et al. 2024, METHODS.md 4 step 4; recipes/easy_to_hard/rl.py). Unset (the default), the recipe
runs no RL stage and its configs hash as before."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from w2s_ray.config.base import Added, Strict, repeated
from w2s_ray.train.config import GrpoSettings, TrainConfig

# Where a rollout's reward comes from:
#   prm   the easy-trained process reward model (`process_reward_model`), one reward per step
#   orm   an outcome reward model trained on the easy samples' answer-correctness (`reward_model`)
#   gold  the hard problem's gold answer (`answer_check`): an upper bound only, it is hard supervision
#   scorer  a scorer of your own (`rl.scorer`): one number per rollout from its text, no gold (a
#         rule-based reward: a format, a length, a verifier that needs no answer key)
RewardSource = Literal["prm", "orm", "gold", "scorer"]


class RewardScorer(Strict):
    """The `scorer` reward: a registered scorer's name or `package.module:Class` (score/base.py), its
    keyword config, and which of its columns is a rollout's reward (a number; NaN or None counts 0).
    It sees the rollouts as the PRM does: text and question, never the hard problems' gold."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)
    column: str

    @model_validator(mode="after")
    def _known(self):
        from w2s_ray.score.stage import as_specs

        try:
            (spec,) = as_specs([{"name": self.name, "config": self.config}])
        except KeyError as err:  # an unknown scorer (UnknownScorerError): a config error, by name
            raise ValueError(str(err)) from None
        if self.column not in spec.scorer_class().columns:
            raise ValueError(f"column {self.column!r} is not one scorer {self.name!r} adds "
                             f"(it adds {', '.join(spec.scorer_class().columns)})")
        return self


class RlConfig(Strict):
    """GRPO (DeepSeekMath, Shao et al. 2024) from the easy-SFT policy on hard training problems whose
    gold never reaches the reward (except for the `gold` upper bound). Each reward source in `rewards`
    is its own chain of iterations from the same easy-SFT policy: sample `group_size` solutions of
    each iteration's problems with the current policy, reward them, advantages over each group, one
    GRPO train stage, and the next iteration samples from the policy it made."""

    # The reward sources, each its own chain: prm, orm, gold (an upper bound only: hard supervision),
    # or scorer (the `scorer` below: a scorer of your own, one reward per rollout).
    rewards: list[RewardSource] = Field(default_factory=lambda: ["prm"], min_length=1)
    iterations: int = Field(default=2, ge=1)
    # Hard training problems per iteration (weak_train's hard levels, their gold held out), a new
    # window of them each iteration, wrapping around when the hard problems run out.
    problems_per_iteration: int = Field(default=32, ge=1)
    group_size: int = Field(default=4, ge=2)  # G: samples of one question, the group advantages are relative to
    temperature: float = Field(default=1.0, gt=0.0)
    # The PRM's reward as DeepSeekMath's process supervision (each step's reward; section 4.1.3), or
    # as one outcome reward per sample (the recipe's `aggregate` of its step scores; section 4.1.2).
    prm_supervision: Literal["process", "outcome"] = "process"
    lr: float = Field(default=1e-5, gt=0.0)
    # Passes over one iteration's rollouts (DeepSeekMath's GRPO iterations, mu). Every pass's ratio is to
    # the policy that sampled the rollouts: the iteration's start checkpoint, whose log-probabilities
    # the trainer computes before its first step (train/grpo_worker.py), so more than one pass is exact
    # too, up to the engine's and the trainer's numerics. The trainer takes its log-probabilities at
    # `temperature` (train.grpo.temperature), as TRL does.
    epochs: float = Field(default=1.0, gt=0.0)
    grpo: GrpoSettings = Field(default_factory=GrpoSettings)
    # The outcome RM's training (reward "orm"): pairs of a right and a wrong easy sample of the PRM's data.
    orm_lr: float = Field(default=1e-4, gt=0.0)
    orm_epochs: float = Field(default=2.0, gt=0.0)
    # Greedy test accuracy after every iteration (the reward-vs-accuracy curve); false: the last only.
    eval_each_iteration: bool = True
    # Keep the rollout engines up through the train stage and load the new weights into them in place
    # (generate/weight_update.py) instead of a new engine per iteration. Only where the engines and
    # the train workers fit at once (a GPU node with room beside the engines' memory share).
    keep_engines: bool = False
    # The `scorer` reward's scorer and column (required with reward scorer, refused without it).
    scorer: Annotated[RewardScorer | None, Added(None)] = None

    @model_validator(mode="after")
    def _scorer_with_its_reward(self):
        if ("scorer" in self.rewards) != (self.scorer is not None):
            raise ValueError("rl.scorer names the scorer of the reward 'scorer': set both or neither "
                             f"(rewards {self.rewards}, scorer {'set' if self.scorer else 'unset'})")
        return self

    def reward_scorer_spec(self):
        from w2s_ray.score.stage import ScorerSpec

        return ScorerSpec(name=self.scorer.name, config=dict(self.scorer.config))

    @field_validator("rewards")
    @classmethod
    def _unique(cls, rewards: list[str]) -> list[str]:
        if twice := repeated(rewards):
            raise ValueError(f"rewards {twice} are listed twice: each reward source is one chain of iterations")
        return rewards

    def grpo_train_config(self, base: TrainConfig) -> TrainConfig:
        grpo = self.grpo.model_copy(update={"temperature": self.temperature})  # the log-probs at the sampling one
        return base.model_copy(update={"objective": "grpo", "lr": self.lr, "epochs": self.epochs, "max_steps": None,
                                       "early_stopping": None, "grpo": grpo})

    def orm_train_config(self, base: TrainConfig) -> TrainConfig:
        return base.model_copy(update={"objective": "reward", "lr": self.orm_lr, "epochs": self.orm_epochs,
                                       "max_steps": None, "early_stopping": None})


def rl_plan_asks(config, asks, rl: RlConfig, prm_scorer) -> list:
    """The RL stages' asks: the outcome RM's training (reward orm), rollouts by the policy's engines,
    the reward scorer, the GRPO train workers."""
    from w2s_ray.raycluster.plan import Ask
    from w2s_ray.score.stage import ScorerSpec

    out = []
    if "orm" in rl.rewards:
        out.append(asks.train("rl orm train", rl.orm_train_config(config.train)))
    rollout = config.strong.model_copy(update={"n": rl.group_size, "temperature": rl.temperature})
    engines = asks.generate("rl rollouts (policy)", rollout)
    out.append(engines)
    scorers = {"prm": prm_scorer, "orm": ScorerSpec(name="reward_model", num_gpus=prm_scorer.num_gpus),
               "gold": ScorerSpec(name="answer_check"),
               **({"scorer": rl.reward_scorer_spec()} if rl.scorer is not None else {})}
    listed = {"prm", *(["gold"] if any(s.name == "answer_check" for s in config.scorers) else [])}
    out += [asks.scorer(scorers[reward]) for reward in rl.rewards if reward not in listed]  # asked for already
    train = asks.train("rl grpo train", rl.grpo_train_config(config.train))
    out.append(train)
    if rl.keep_engines:  # the rollout engines stay up through training: both must fit at once
        out.append(Ask("rl grpo train beside the kept engines (rl.keep_engines)", f"{train.what} + {engines.what}",
                       1, train.total["GPU"] + engines.total["GPU"], train.total["CPU"] + engines.total["CPU"],
                       one_actor=False))
    return out
