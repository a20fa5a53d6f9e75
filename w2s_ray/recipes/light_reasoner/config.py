"""Config section of the light_reasoner recipe (recipes/light_reasoner/recipe.py; METHODS.md section 2).

The expert is the run's `strong` model, the amateur the first of its `weak` teachers (they must share
a tokenizer; the contrast stage refuses a pair that does not). Defaults are the paper's: beta 0.4,
alpha 0.2, LoRA r 8 / alpha 16 on the q and v projections, lr 5e-5; and the authors' code's
(HKUDS/LightReasoner, LightR_sampling.py): the chat prompt and no stop for a hub expert, V_t whole,
epsilon 1e-12, steps from t = 1 up to the one that emitted EOS. The one deliberate difference by
default is the loss position.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from w2s_ray.config.base import Added, Strict
from w2s_ray.train.config import LoraSettings, TrainConfig


# The loss position is the objective's: one loop per position (train/objectives/soft_kl.py), so a
# field of no other objective stays out of the shared TrainConfig.
SOFT_KL_OBJECTIVES = {"last_non_pad": "soft_kl", "index_minus_1": "soft_kl_index_minus_1"}


class LightReasonerConfig(Strict):
    n_questions: int = Field(default=1000, ge=1)  # N: the first N questions of strong_train
    max_tokens: int = Field(default=128, ge=1, le=128)  # the paper's cap on the expert's solutions
    # How the expert reads a question (recipes/light_reasoner/sampling.py). "auto" (authors' default
    # for hub models): the expert's chat template with `system_prompt` where its tokenizer has one,
    # else the run's Question/Answer template (the testbed's world models have no chat template and
    # were trained on that one). "chat" / "plain" force either.
    prompt_format: Literal["auto", "chat", "plain"] = "auto"
    system_prompt: str = "Please reason step by step."  # the authors' (LightR_sampling.py)
    # The sampler's and the evaluations' stop strings. None: the authors' none with a chat template
    # (128 tokens or EOS); on the plain template the teacher's stops less any that matches a blank
    # line (ours: the default "\n\n" would end a paragraph-step solution at its first step).
    stop: list[str] | None = None
    temperature: float = Field(default=0.0, ge=0.0)  # the expert's sampling; 0: greedy
    samples: int = Field(default=1, ge=1)  # solutions per question (RS-SFT keeps the right ones)
    beta: float = Field(default=0.4, ge=0.0)  # keep steps with KL(pi_E || pi_A) >= beta
    # Keep about this share of the steps instead: beta rises to the KL quantile that keeps it (the
    # paper's 0.4 is on a 1.5B pair's KL scale; a small pair's KLs may sit mostly above it). None: beta alone.
    keep_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    alpha: float = Field(default=0.2, gt=0.0, le=1.0)  # V_t = {a : pi_E(a) >= alpha * max pi_E}
    # None (authors' default): V_t whole, every token the rule keeps (at most 1/alpha times 1/max pi_E).
    # A number (e.g. 64) cuts it to that many most likely tokens, counted in the
    # contrast stage's metrics; on a flat pi_E the cut moved targets by up to 0.49.
    max_mask: int | None = Field(default=None, ge=1)
    # Authors' default 1e-12: added to both probabilities in the KL and in the contrast score
    # (LightR_sampling.py), bounding a token the amateur gives ~0; 0.0 (ours): the exact log-ratios.
    epsilon: float = Field(default=1e-12, ge=0.0, lt=1e-3)
    # Authors' default 1: step 0 (the first token, predicted from the prompt alone) is never a
    # training step (`range(1, len(expert_targets))`); 0: it is a candidate.
    first_step: Literal[0, 1] = 1
    # Authors' default True: where the expert ended its solution with EOS, the position that emitted
    # EOS is a step too. Their expert_targets are generate's new tokens, EOS included, and every one
    # from step 1 is contrasted (LightR_sampling.py lines 100-101, 150). False: only the solution
    # text's tokens, which never hold the EOS, so that last step is lost. At the
    # 128-token cap there is no EOS and the two agree; a stop string is no EOS either. False hashes as
    # absent (Added): a run made without the option resumes with `eos_step: false`.
    eos_step: Annotated[bool, Added(False)] = True
    # Where the soft-label KL reads the student's logits. "last_non_pad" (ours, the default on purpose,
    # METHODS.md 2.6): each row's last real token. "index_minus_1" (the authors' LightR_finetuning.py,
    # `logits[:, -1]`): the batch's last position, a pad for every right-padded row shorter than the
    # longest; for comparing with the paper's numbers like for like.
    loss_position: Literal["last_non_pad", "index_minus_1"] = "last_non_pad"
    contrast_batch_size: int = Field(default=16, ge=1)  # rows per teacher-forced forward pass
    # The soft-label KL training (the paper's settings); batch size, workers, max_length: `train:`.
    lr: float = Field(default=5e-5, gt=0.0)
    epochs: float = Field(default=1.0, gt=0.0)
    lora_r: int = Field(default=8, ge=1)
    lora_alpha: int = Field(default=16, ge=1)
    lora_target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    # The rejection-sampling SFT baseline on the same samples: the run's `train:` section, with these.
    rs_sft_lr: float | None = Field(default=None, gt=0.0)  # None: train.lr
    rs_sft_epochs: float | None = Field(default=None, gt=0.0)  # None: train.epochs

    def kl_train_config(self, base: TrainConfig) -> TrainConfig:
        return base.model_copy(update={
            "objective": SOFT_KL_OBJECTIVES[self.loss_position], "lr": self.lr, "epochs": self.epochs, "max_steps": None, "early_stopping": None,
            "lora": LoraSettings(r=self.lora_r, alpha=self.lora_alpha, target_modules=list(self.lora_target_modules))})

    def rs_sft_train_config(self, base: TrainConfig) -> TrainConfig:
        update = {"objective": "sft"}
        if self.rs_sft_lr is not None:
            update["lr"] = self.rs_sft_lr
        if self.rs_sft_epochs is not None:
            update.update(epochs=self.rs_sft_epochs, max_steps=None)
        return base.model_copy(update=update)


SECTIONS = {"light_reasoner": LightReasonerConfig}  # None: its defaults


def plan_asks(config, asks) -> list:
    """recipes/light_reasoner/stages.py: one contrast actor holds both models; then the soft-label KL training."""
    lr = config.light_reasoner or LightReasonerConfig()
    return [asks.actors("score contrast", "expert + amateur forward passes", 1,
                        gpus=1.0 if asks.device == "gpu" else 0.0, cpus=1.0),
            asks.train("light_reasoner train", lr.kl_train_config(config.train))]
