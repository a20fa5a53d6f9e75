"""Config section of the light_reasoner recipe (recipes/light_reasoner/recipe.py; METHODS.md section 2).

The expert is the run's `strong` model, the amateur the first of its `weak` teachers (they must share
a tokenizer; the contrast stage refuses a pair that does not). Defaults are the paper's: beta 0.4,
alpha 0.2, LoRA r 8 / alpha 16 on the q and v projections, lr 5e-5.
"""
from __future__ import annotations

from pydantic import Field

from w2s_ray.config.base import Strict
from w2s_ray.train.config import LoraSettings, TrainConfig


class LightReasonerConfig(Strict):
    n_questions: int = Field(default=1000, ge=1)  # N: the first N questions of strong_train
    max_tokens: int = Field(default=128, ge=1, le=128)  # the paper's cap on the expert's solutions
    temperature: float = Field(default=0.0, ge=0.0)  # the expert's sampling; 0: greedy
    samples: int = Field(default=1, ge=1)  # solutions per question (RS-SFT keeps the right ones)
    beta: float = Field(default=0.4, ge=0.0)  # keep steps with KL(pi_E || pi_A) >= beta
    # Keep about this share of the steps instead: beta rises to the KL quantile that keeps it (the
    # paper's 0.4 is on a 1.5B pair's KL scale; a small pair's KLs may sit mostly above it). None: beta alone.
    keep_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    alpha: float = Field(default=0.2, gt=0.0, le=1.0)  # V_t = {a : pi_E(a) >= alpha * max pi_E}
    # V_t is stored sparsely; a nearly flat pi_E could make it most of the vocabulary, so it is cut
    # to its max_mask most likely tokens (cuts are counted in the contrast stage's metrics).
    max_mask: int = Field(default=64, ge=1)
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
            "objective": "soft_kl", "lr": self.lr, "epochs": self.epochs, "max_steps": None, "early_stopping": None,
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
