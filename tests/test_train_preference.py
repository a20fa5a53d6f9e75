"""DPO and ORPO through Ray Train + TRL on the tiny strong model: learning, publishing, ZeRO-2 + LoRA, bad input.

The pairs come out of build_preference_pairs (Stage II selection) over synthetic generations: every
chosen side is a right solution and every rejected side the same solution with a wrong final answer,
so a model that learned the preference gives the chosen side more log-probability than before.
Each training test is one Ray Train run (~25-40 s on 2 idle cores, most of it start-up); the first
ZeRO run on a machine also compiles DeepSpeed's shm op once (cached in TORCH_EXTENSIONS_DIR).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import long_test
from w2s_ray.data.world import generate_world
from w2s_ray.select import build_preference_pairs
from w2s_ray.train import LoraSettings, TrainConfig
from w2s_ray.train.objectives import train_objective

# 16 pairs, 4 epochs, batch 4: 16 optimizer steps on one worker, 8 on two.
FAST = dict(epochs=4, per_device_batch_size=4, max_length=128, logging="none")
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle"}


def generation(problem, text, model, role, sample_index):
    return {"problem_id": problem.id, "model": model, "role": role, "sample_index": sample_index,
            "question": problem.question, "text": text, "answer": text.rsplit("#### ", 1)[1], "level": problem.level}


def wrong(solution: str) -> str:
    body, answer = solution.rsplit("#### ", 1)
    return f"{body}#### {int(answer) + 3}"


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    """Half the weak solutions are right (weak_agrees), half wrong (majority_overrules)."""
    student_rows, weak_rows = [], []
    for i, problem in enumerate(generate_world(16, seed=5)):
        texts = [problem.solution] * 8 + [wrong(problem.solution)] * 2
        student_rows += [generation(problem, t, "student", "strong", k) for k, t in enumerate(texts)]
        weak_text = problem.solution if i % 2 else wrong(problem.solution)
        weak_rows.append(generation(problem, weak_text, "weak", "weak", 0))
    selection = build_preference_pairs(student_rows, weak_rows, seed=0)
    assert selection.kept == 16 and {r["case"] for r in selection.rows} == {"weak_agrees", "majority_overrules"}
    return selection.rows


@pytest.fixture(scope="module")
def base_model(tiny_models) -> Path:
    return Path(tiny_models[1])  # the strong one: Stage II starts from a student


def mean_margin(model_dir: Path, rows: list[dict]) -> float:
    """Mean over pairs of log p(chosen | prompt) - log p(rejected | prompt), EOS included, as DPO scores them."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def logp(prompt: str, completion: str) -> float:
        n_prompt = len(tokenizer(prompt).input_ids)
        ids = torch.tensor([tokenizer(prompt + completion).input_ids + [tokenizer.eos_token_id]])
        with torch.no_grad():
            logprobs = model(ids).logits[0, :-1].log_softmax(-1)
        targets = ids[0, 1:]
        return logprobs[torch.arange(len(targets)), targets][n_prompt - 1:].sum().item()

    return sum(logp(r["prompt"], r["chosen"]) - logp(r["prompt"], r["rejected"]) for r in rows) / len(rows)


def assert_published(out: Path, objective: str, n_rows: int) -> None:
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "train_config.json", "metrics.json", "tokenizer.json"} <= names
    assert "adapter_config.json" not in names and not [n for n in names if Path(n).suffix in PICKLE_SUFFIXES]
    provenance = json.loads((out / "train_config.json").read_text())
    assert provenance["objective"] == provenance["config"]["objective"] == objective
    assert provenance["n_rows"] == n_rows and len(provenance["rows_sha256"]) == 16


def changed_weights(base: Path, out: Path) -> set[str]:
    before, after = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(before) <= set(after)
    return {k for k in before if not torch.equal(before[k], after[k])}


def assert_learned(metrics: dict, steps: int, margin_grows: bool = True) -> None:
    assert metrics["steps"] == steps and len(metrics["loss_history"]) == steps
    assert metrics["final_train_loss"] == metrics["loss_history"][-1]["loss"]
    history = metrics["preference_history"]
    assert len(history) == steps and all(0.0 <= e["reward_accuracy"] <= 1.0 for e in history)
    assert metrics["final_reward_accuracy"] == history[-1]["reward_accuracy"]
    assert metrics["final_reward_margin"] == history[-1]["reward_margin"]
    if margin_grows:
        assert metrics["final_reward_margin"] > 0
    assert metrics["tokens"] > metrics["samples"] > 0 and metrics["wall_seconds"] >= metrics["train_seconds"] > 0


@pytest.mark.slow
def test_dpo_learns_the_preference_and_publishes_a_plain_model(ray_local, base_model, pairs, tmp_path):
    out = tmp_path / "stage2" / "student"
    config = TrainConfig(objective="dpo", num_workers=1, lr=1e-3, **{**FAST, "logging": "tensorboard"})
    result = train_objective(pairs, base_model, out, config, device="cpu")

    assert Path(result.model_dir) == out.resolve()
    assert_published(out, "dpo", len(pairs))
    assert changed_weights(base_model, out)
    metrics = result.metrics
    assert_learned(metrics, steps=16)
    losses = [e["loss"] for e in metrics["loss_history"]]
    assert losses[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference at the start
    assert losses[-1] < losses[0]
    # One batch's accuracy moves in steps of 1/batch; the last four steps' mean is the signal.
    late = [e["reward_accuracy"] for e in metrics["preference_history"][-4:]]
    assert sum(late) / len(late) > 0.5, metrics["preference_history"]
    assert list(Path(result.log_dir).rglob("events.out.tfevents.*")), "no TensorBoard event file"
    assert mean_margin(out, pairs) > mean_margin(base_model, pairs) + 0.5


@pytest.mark.slow
@long_test  # a Ray Train run (~40-75 s); ORPO runs DPO's loop (test_train_objectives.py), which the test above runs
def test_orpo_learns_the_preference(ray_local, base_model, pairs, tmp_path):
    out = tmp_path / "orpo"
    result = train_objective(pairs, base_model, out, TrainConfig(objective="orpo", num_workers=1, lr=1e-3, **FAST))

    assert_published(out, "orpo", len(pairs))
    assert changed_weights(base_model, out)
    # ORPO's loss is mostly the NLL of the chosen side: its last batch's reward margin is noise around 0.
    assert_learned(result.metrics, steps=16, margin_grows=False)
    assert {"nll_loss", "log_odds_ratio"} <= set(result.metrics["preference_history"][-1])
    assert mean_margin(out, pairs) > mean_margin(base_model, pairs)


@pytest.mark.slow
@long_test  # two workers under ZeRO-2 (~30-90 s); test_train_sft.py runs ZeRO-3 and LoRA in make test
def test_dpo_with_zero2_on_two_workers_and_lora_merges_into_a_plain_model(ray_local, base_model, pairs, tmp_path):
    # With LoRA the reference is the base model with the adapter switched off (no second copy).
    out = tmp_path / "zero2-lora"
    lora = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    config = TrainConfig(objective="dpo", num_workers=2, deepspeed="zero2", lora=lora, lr=2e-2, **FAST)
    result = train_objective(pairs, base_model, out, config, device="cpu")

    assert_published(out, "dpo", len(pairs))
    changed = changed_weights(base_model, out)
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed), changed
    assert_learned(result.metrics, steps=8)
    assert json.loads((out / "train_config.json").read_text())["deepspeed"]["zero_optimization"]["stage"] == 2
    assert mean_margin(out, pairs) > mean_margin(base_model, pairs)


# --- refused before anything starts (no Ray) ----------------------------------------------------

def test_an_empty_pair_set_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no preference pairs to train on"):
        train_objective([], tmp_path, tmp_path / "out", TrainConfig(objective="dpo"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "Question: q\nAnswer:", "chosen": " a"}, "row 2 field 'rejected' must be a string"),
    ({"prompt": "Question: q\nAnswer:", "chosen": None, "rejected": " b"}, "row 2 field 'chosen' must be a string"),
    ({"prompt": " ", "chosen": " a", "rejected": " b"}, "row 2 field 'prompt' is empty"),
    ({"prompt": "Question: q\nAnswer:", "chosen": " a", "rejected": "  "}, "row 2 field 'rejected' is empty"),
    ({"prompt": "Question: q\nAnswer:", "chosen": " a", "rejected": " a"}, "row 2 field 'rejected' equals 'chosen'"),
])
def test_a_bad_row_is_named_by_index_and_field(pairs, tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        train_objective([*pairs[:2], bad, *pairs[2:]], tmp_path, tmp_path / "out", TrainConfig(objective="dpo"))


def test_rows_of_another_objective_are_refused_by_the_configured_ones(pairs, tmp_path):
    with pytest.raises(ValueError, match="SFT row 0 needs string 'prompt' and 'completion'"):
        train_objective(pairs, tmp_path, tmp_path / "out", TrainConfig())
    with pytest.raises(ValueError, match="preference row 0 field 'chosen' must be a string"):
        train_objective([{"prompt": "q", "completion": " a"}], tmp_path, tmp_path / "out", TrainConfig(objective="dpo"))


def test_not_a_model_directory_and_existing_output_are_refused(pairs, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        train_objective(pairs, tmp_path, tmp_path / "out", TrainConfig(objective="orpo"))
    (tmp_path / "done").mkdir()
    with pytest.raises(FileExistsError):
        train_objective(pairs, tmp_path, tmp_path / "done", TrainConfig(objective="dpo"))
