"""The GRPO objective: its loss on a fixed batch equals TRL's GRPOTrainer._compute_loss on the same
tensors (TRL's own method, run on a stand-in carrying the attributes it reads), its rows are checked,
and a short Ray Train run raises the log-probability of positive-advantage completions and lowers
that of negative ones (the planted behaviour: right answers +1, wrong answers -1).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import long_test
from w2s_ray.data.world import generate_world
from w2s_ray.train import LoraSettings, TrainConfig
from w2s_ray.train.config import GrpoSettings
from w2s_ray.train.grpo import validate_grpo_rows
from w2s_ray.train.objectives import get_objective, train_objective


def wrong(solution: str) -> str:
    body, answer = solution.rsplit("#### ", 1)
    return f"{body}#### {int(answer) + 3}"


@pytest.fixture(scope="module")
def rollouts() -> list[dict]:
    """Per problem, the right solution (advantage +1) and a wrong one (-1): what a gold reward over a
    group of two would give (outcome_advantages([1, 0]) is +-0.707)."""
    rows = []
    for problem in generate_world(8, seed=5):
        prompt = f"Question: {problem.question}\nAnswer:"
        rows.append({"prompt": prompt, "completion": " " + problem.solution, "advantage": 1.0})
        rows.append({"prompt": prompt, "completion": " " + wrong(problem.solution), "advantage": -1.0})
    return rows


@pytest.fixture(scope="module")
def base_model(tiny_models) -> Path:
    return Path(tiny_models[1])


# --- the loss equals TRL's ----------------------------------------------------------------------

class TRLStandIn:
    """What GRPOTrainer._compute_loss reads of its trainer, with TRL 1.16's defaults and
    loss_type "dapo"; its two methods are TRL's own."""

    from trl import GRPOTrainer as _trl

    _compute_loss = _trl._compute_loss
    _get_per_token_logps_and_entropies = _trl._get_per_token_logps_and_entropies

    def __init__(self, model, beta: float, epsilon: float):
        from accelerate import Accelerator

        self.model, self.beta, self.accelerator = model, beta, Accelerator(cpu=True)
        self.loss_type, self.epsilon_low, self.epsilon_high = "dapo", epsilon, epsilon
        self.args = SimpleNamespace(use_bias_correction_kl=True, delta=None, steps_per_generation=1)
        self.top_entropy_quantile, self.off_policy_mask_threshold = 1.0, None
        self.importance_sampling_level, self.use_vllm, self.vllm_importance_sampling_correction = "token", False, False
        self.current_gradient_accumulation_steps = 1
        self._entropy_bonus_enabled, self.aux_loss_enabled = False, False
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}


def our_trainer(base_model: Path, rows: list[dict], beta: float, tmp_path: Path, temperature: float = 1.0):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from w2s_ray.train.grpo_worker import grpo_trainer
    from w2s_ray.train.worker_loop import trainer_arguments

    config = TrainConfig(objective="grpo", grpo=GrpoSettings(beta=beta, temperature=temperature), max_length=256,
                         logging="none")
    common = trainer_arguments(config, "cpu", None, "none", str(tmp_path / "trainer"))
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    return grpo_trainer(config, common, str(base_model), Dataset.from_list(validate_grpo_rows(rows)), tokenizer)


@pytest.mark.parametrize("beta", [0.04, 0.0])
def test_the_loss_on_a_fixed_batch_equals_trls_compute_loss(base_model, rollouts, tmp_path, beta):
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    rows = [dict(r) for r in rollouts[:6]]
    trainer = our_trainer(base_model, rows, beta, tmp_path)
    model = trainer.model.eval()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    mask = batch["completion_mask"].float()
    with torch.no_grad():
        from w2s_ray.train.grpo_worker import completion_logps

        logps = completion_logps(trainer, model, batch)
    # Per-token advantages of both signs; the start (reference) policy and, for half the rows, the
    # sampling policy moved away from the current one, far enough for the ratio to leave [0.8, 1.2].
    batch["advantages"] = (torch.randn(mask.shape) + 0.5) * mask
    start = logps + 0.3 * torch.randn(mask.shape)
    trainer.start_logps = {i: start[i, :int(mask[i].sum())] for i in range(len(rows))}
    batch["old_logps"] = (logps + 0.3 * torch.randn(mask.shape)) * mask
    batch["has_old_logps"] = torch.tensor([i % 2 == 0 for i in range(len(rows))])
    old = torch.where(batch["has_old_logps"].unsqueeze(1), batch["old_logps"], start)

    ours = trainer.compute_loss(model, batch, num_items_in_batch=mask.sum())

    trl_model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32).eval()
    add_fused_lm_head(trl_model, outputs=("log_probs", "entropy"))  # as GRPOTrainer patches its model
    trl = TRLStandIn(trl_model, beta=beta, epsilon=0.2)
    inputs = {key: batch[key] for key in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")}
    inputs.update(advantages=batch["advantages"], old_per_token_logps=old, ref_per_token_logps=start,
                  num_items_in_batch=mask.sum())
    theirs = trl._compute_loss(trl_model, inputs)

    assert abs(ours.item() - theirs.item()) < 1e-6, (ours.item(), theirs.item())
    metrics = trl._metrics["eval"]
    assert metrics["clip_ratio/region_mean"][0] > 0  # clipping took part in the comparison
    assert (metrics["kl"][0] > 0) if beta else "kl" not in metrics
    # and the gradient flows: the loss is the policy's, not a constant
    ours.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_log_probabilities_are_taken_at_the_sampling_temperature(base_model, rollouts, tmp_path):
    """Rollouts sampled at temperature T: the ratio's old policy is softmax(logits / T), as TRL's
    GRPOTrainer takes it (its add_fused_lm_head(model, temperature=args.temperature))."""
    from transformers import AutoModelForCausalLM

    from w2s_ray.train.grpo_worker import completion_logps

    rows = [dict(r) for r in rollouts[:4]]
    trainer = our_trainer(base_model, rows, 0.04, tmp_path, temperature=0.7)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    with torch.no_grad():
        ours = completion_logps(trainer, trainer.model.eval(), batch)
        plain = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32).eval()
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        logits = plain(input_ids=ids, attention_mask=torch.cat([batch["prompt_mask"], batch["completion_mask"]],
                                                                dim=1)).logits
        width = batch["completion_ids"].size(1)
        logits = logits[:, -width - 1:-1]
        at_t = torch.log_softmax(logits / 0.7, -1).gather(-1, batch["completion_ids"].unsqueeze(-1)).squeeze(-1)
        at_1 = torch.log_softmax(logits, -1).gather(-1, batch["completion_ids"].unsqueeze(-1)).squeeze(-1)
    mask = batch["completion_mask"].bool()
    assert torch.allclose(ours[mask], at_t[mask], atol=1e-4)
    assert not torch.allclose(ours[mask], at_1[mask], atol=1e-2)


# --- rows ---------------------------------------------------------------------------------------

def test_the_objective_is_registered_and_its_section_belongs_to_it():
    assert get_objective("grpo").rows is validate_grpo_rows
    assert TrainConfig(objective="grpo").grpo is None  # the defaults: GrpoSettings()
    with pytest.raises(ValueError, match="the grpo section is for objective 'grpo', not 'sft'"):
        TrainConfig(grpo=GrpoSettings())


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "q", "completion": " a"}, "row 1 needs exactly one of 'advantage'"),
    ({"prompt": "q", "completion": " a", "advantage": 1.0, "advantages": [1.0]}, "row 1 needs exactly one"),
    ({"prompt": "q", "completion": " ", "advantage": 1.0}, "row 1 field 'completion' must be a non-empty string"),
    ({"prompt": "q", "completion": " a", "advantage": float("nan")}, "row 1 field 'advantage' must be a finite"),
    ({"prompt": "q", "completion": " a", "advantages": []}, "row 1 field 'advantages' must be a non-empty list"),
    ({"prompt": "q", "completion": " a", "advantage": 1.0, "old_logps": [0.5]}, "row 1 field 'old_logps' has a pos"),
])
def test_a_bad_row_is_named_by_index_and_field(bad, message, tmp_path):
    good = {"prompt": "q", "completion": " a", "advantage": 1.0}
    with pytest.raises(ValueError, match=message):
        train_objective([good, bad], tmp_path, tmp_path / "out", TrainConfig(objective="grpo"))


def test_per_token_lists_must_count_the_completions_tokens_with_eos(base_model, rollouts, tmp_path):
    row = dict(rollouts[0], advantages=[0.5, 0.5])
    del row["advantage"]
    with pytest.raises(ValueError, match=r"GRPO row 0 field 'advantages' has 2 values for \d+ completion tokens "
                                         r"\(with EOS\)"):
        our_trainer(base_model, [row], 0.0, tmp_path)


# --- a short run learns the planted behaviour -----------------------------------------------------

def completion_logp(model_dir: Path, rows: list[dict]) -> list[float]:
    """Each row's log p(completion + EOS | prompt) under the model at model_dir."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    for row in rows:
        prompt = tokenizer(row["prompt"], add_special_tokens=False).input_ids
        completion = tokenizer(row["completion"], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt + completion])
        with torch.no_grad():
            logprobs = model(ids).logits[0, :-1].log_softmax(-1)
        targets = ids[0, 1:]
        out.append(logprobs[torch.arange(len(targets)), targets][len(prompt) - 1:].sum().item())
    return out


@pytest.mark.slow
@long_test  # a Ray Train run (~50 s loaded); the loss against TRL's is tested above without Ray
def test_a_short_run_raises_positive_and_lowers_negative_advantage_completions(ray_local, base_model, rollouts,
                                                                               tmp_path):
    out = tmp_path / "grpo"
    config = TrainConfig(objective="grpo", num_workers=1, epochs=4, per_device_batch_size=8, lr=1e-3,
                         max_length=256, logging="none", grpo=GrpoSettings(beta=0.04))
    result = train_objective(rollouts, base_model, out, config, device="cpu")

    metrics = result.metrics
    assert metrics["steps"] == 8 and len(metrics["grpo_history"]) == 8
    # the first step is on-policy: the start log-probs are the policy's own, so the KL starts at 0
    assert metrics["grpo_history"][0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["final_kl"] > 0
    before, after = completion_logp(base_model, rollouts), completion_logp(out, rollouts)
    change = [a - b for a, b in zip(after, before)]
    # Rows alternate right (+1), wrong (-1) per problem; the two share every token but the answer's,
    # whose opposite advantages cancel: the signal is the right answer's margin over the wrong one.
    margin_gain = [right - wrong for right, wrong in zip(change[::2], change[1::2])]
    assert sum(margin_gain) / len(margin_gain) > 0.3, margin_gain
    assert sum(g > 0 for g in margin_gain) >= 6, margin_gain
    assert sum(change[1::2]) < 0  # the wrong answers lost probability


def process_rollouts(base_model: Path, rollouts: list[dict]) -> list[dict]:
    """The same right/wrong pairs with per-token process advantages: a step per line, every step of
    the right solution rewarded 1, the wrong one's steps 1 but its final answer line 0."""
    from transformers import AutoTokenizer

    from w2s_ray.select.advantages import process_advantages, token_ends_from_char_ends

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    rows = []
    for right, bad in zip(rollouts[::2], rollouts[1::2]):
        rewards, ends, lengths = [], [], []
        for row, last_reward in ((right, 1.0), (bad, 0.0)):
            text = row["completion"]
            encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            char_ends = [k + 1 for k, ch in enumerate(text) if ch == "\n"] + [len(text)]
            n_tokens = len(encoded.input_ids) + 1  # EOS, part of the last step
            step_ends = token_ends_from_char_ends(encoded.offset_mapping, char_ends)[:-1] + [n_tokens - 1]
            rewards.append([1.0] * (len(step_ends) - 1) + [last_reward])
            ends.append(step_ends)
            lengths.append(n_tokens)
        for row, advantages in zip((right, bad), process_advantages(rewards, ends, lengths)):
            rows.append({"prompt": row["prompt"], "completion": row["completion"], "advantages": advantages})
    return rows


@pytest.mark.slow
@long_test  # ~3 min on 2 loaded cores: make test-long
def test_process_advantages_with_zero2_on_two_workers_and_lora_merge_into_a_plain_model(
        ray_local, base_model, rollouts, tmp_path):
    from safetensors.torch import load_file

    rows = process_rollouts(base_model, rollouts)
    assert min(rows[1]["advantages"]) < 0 < min(rows[0]["advantages"])  # the wrong answer's step is negative
    out = tmp_path / "grpo-zero2-lora"
    lora = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    config = TrainConfig(objective="grpo", num_workers=2, deepspeed="zero2", lora=lora, epochs=4,
                         per_device_batch_size=4, lr=2e-2, max_length=256, logging="none")
    result = train_objective(rows, base_model, out, config, device="cpu")

    assert result.metrics["steps"] == 8
    assert "adapter_config.json" not in {p.name for p in out.iterdir()}
    before, after = load_file(str(base_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed), changed
    change = [a - b for a, b in zip(completion_logp(out, rows), completion_logp(base_model, rows))]
    margin_gain = [right - wrong for right, wrong in zip(change[::2], change[1::2])]
    assert sum(margin_gain) / len(margin_gain) > 0, margin_gain
