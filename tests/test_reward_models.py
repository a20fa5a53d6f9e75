"""Reward models as scorers and as training objectives, on the tiny world model.

The scorers' batched, padded forward passes give what one plain forward of the same model on the
same text gives; the process RM trains on Ray Train (HF Trainer, token classification on step ends)
and publishes safetensors that the scorer loads and that rank a planted wrong step below right ones.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tests.conftest import long_test
from w2s_ray.data.world import generate_world
from w2s_ray.score import score_rows
from w2s_ray.score.step_checker import split_steps
from w2s_ray.text.prompts import zero_shot
from w2s_ray.text.reward_format import outcome_rm_ids, outcome_rm_pair, process_rm_ids
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.objectives import train_objective

PROBLEMS = generate_world(24, seed=5)


def corrupt(solution: str) -> tuple[str, int]:
    """The solution with its first step's result off by 2, and that step's index."""
    steps = solution.split("\n")
    lhs, result = steps[0].rsplit("= ", 1)
    steps[0] = f"{lhs}= {int(result) + 2}"
    return "\n".join(steps), 0


def _rows():
    rows = [{"question": p.question, "text": p.solution} for p in PROBLEMS[:6]]
    rows += [{"question": PROBLEMS[0].question, "text": "I do not know."},  # no "####": one prose step
             {"question": PROBLEMS[1].question, "text": ""}]  # no steps at all
    return rows


def _head_checkpoint(tiny: str, out: Path, auto_class: str, num_labels: int) -> str:
    import transformers

    torch.manual_seed(0)  # the new head is random: a seeded one, saved, is the model under test
    model = getattr(transformers, auto_class).from_pretrained(tiny, num_labels=num_labels, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def test_process_rm_scores_equal_a_plain_forward(tiny_models, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = _head_checkpoint(tiny_models[1], tmp_path / "prm", "AutoModelForTokenClassification", 2)
    rows = _rows()
    scored = score_rows(rows, [{"name": "process_reward_model", "batch_size": 8,
                                "config": {"model_path": path, "forward_batch_size": 3, "device": "cpu"}}])
    model = AutoModelForTokenClassification.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    for row, out in zip(rows, scored):
        steps = split_steps(row["text"])
        assert len(out["step_scores"]) == len(steps)
        if not steps:
            assert all(math.isnan(out[c]) for c in ("prm_min", "prm_prod", "prm_last"))  # no score: ranks last
            continue
        ids, ends = process_rm_ids(tokenizer, zero_shot(row["question"]), steps)
        with torch.no_grad():  # one sequence, no padding
            probs = model(torch.tensor([ids])).logits[0].softmax(-1)[:, 1]
        assert out["step_scores"] == pytest.approx([float(probs[e]) for e in ends], abs=1e-5)
        assert out["prm_min"] == pytest.approx(min(out["step_scores"]))
        assert out["prm_last"] == pytest.approx(out["step_scores"][-1])
        assert out["prm_prod"] == pytest.approx(math.prod(out["step_scores"]))


def test_outcome_rm_scores_equal_a_plain_forward(tiny_models, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = _head_checkpoint(tiny_models[1], tmp_path / "orm", "AutoModelForSequenceClassification", 1)
    rows = _rows()
    scored = score_rows(rows, [{"name": "reward_model", "config": {"model_path": path, "forward_batch_size": 3}}])
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    for row, out in zip(rows, scored):
        with torch.no_grad():
            plain = model(torch.tensor([outcome_rm_ids(tokenizer, row["question"], row["text"])])).logits
        assert out["reward"] == pytest.approx(float(plain[0, 0]), abs=1e-5)


def guess(solution: str) -> tuple[str, int]:
    """The solution with its first step replaced by a guess: a wrong step a 2-layer model can see
    (telling 13 - 12 = 1 from 13 - 12 = 3 takes arithmetic it does not learn in a few steps)."""
    steps = solution.split("\n")
    steps[0] = f"I guess it is {len(steps[0])}"
    return "\n".join(steps), 0


def step_labelled_rows():
    """Each problem twice: the gold solution (every step 1) and one whose first step is a guess (0,
    then 1 for the later steps)."""
    rows = []
    for p in PROBLEMS:
        steps = split_steps(p.solution)
        rows.append({"prompt": zero_shot(p.question), "steps": steps, "labels": [1] * len(steps), "source": "gold"})
        bad, index = guess(p.solution)
        bad_steps = split_steps(bad)
        rows.append({"prompt": zero_shot(p.question), "steps": bad_steps,
                     "labels": [0 if i == index else 1 for i in range(len(bad_steps))], "source": "planted"})
    return rows


def test_process_rm_trains_on_ray_and_ranks_a_wrong_step_lower(ray_local, tiny_models, tmp_path):
    out = tmp_path / "prm"
    config = TrainConfig(objective="process_reward", num_workers=1, epochs=3, lr=3e-3, per_device_batch_size=8,
                         max_length=128, logging="none")
    result = train_objective(step_labelled_rows(), tiny_models[1], out, config)
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names and not [n for n in names if n.endswith((".bin", ".pt", ".pkl"))]
    assert json.loads((out / "config.json").read_text())["architectures"] == ["LlamaForTokenClassification"]
    assert result.metrics["steps"] > 0 and result.metrics["loss_history"][-1]["loss"] < \
        result.metrics["loss_history"][0]["loss"]
    rows = [{"question": p.question, "text": text} for p in PROBLEMS[:8] for text in (p.solution, guess(p.solution)[0])]
    scored = score_rows(rows, [{"name": "process_reward_model", "config": {"model_path": str(out)}}])
    right_first = [r["step_scores"][0] for r in scored[0::2]]
    wrong_first = [r["step_scores"][0] for r in scored[1::2]]
    assert sum(right_first) / 8 > sum(wrong_first) / 8 + 0.2
    # With answer_step (easy_to_hard's default) the final-answer line is scored after the steps.
    with_answer = score_rows(rows[:2], [{"name": "process_reward_model",
                                         "config": {"model_path": str(out), "answer_step": True}}])
    assert [len(r["step_scores"]) for r in with_answer] == [len(r["step_scores"]) + 1 for r in scored[:2]]
    assert [s for r in with_answer for s in r["step_scores"][:-1]] == pytest.approx(
        [s for r in scored[:2] for s in r["step_scores"]], abs=1e-5)  # a causal model: the steps read the same


@long_test
def test_outcome_rm_trains_with_lora_and_merges_its_head(ray_local, tiny_models, tmp_path):
    rows = []
    for p in PROBLEMS:
        prompt, chosen = outcome_rm_pair(p.question, p.solution)
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": outcome_rm_pair(p.question, corrupt(p.solution)[0])[1]})
    out = tmp_path / "orm"
    config = TrainConfig(objective="reward", num_workers=1, epochs=6, lr=3e-3, per_device_batch_size=8,
                         max_length=128, logging="none", lora={"r": 8, "alpha": 16})
    train_objective(rows, tiny_models[1], out, config)
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names and "adapter_config.json" not in names
    scored = score_rows([{"question": p.question, "text": t} for p in PROBLEMS[:8]
                         for t in (p.solution, corrupt(p.solution)[0])],
                        [{"name": "reward_model", "config": {"model_path": str(out)}}])
    assert sum(r["reward"] for r in scored[0::2]) > sum(r["reward"] for r in scored[1::2])


def test_bad_process_reward_rows_are_refused_by_row_and_field(tmp_path):
    good = step_labelled_rows()[:2]
    for bad, message in [({**good[0], "labels": [1, 1, 1, 1, 1, 1, 1]}, "row 2 field 'labels' must be a list as long"),
                         ({**good[0], "steps": []}, "row 2 field 'steps'"),
                         ({**good[0], "labels": [2] * len(good[0]["steps"])}, "row 2 field 'labels' must hold 0 or 1")]:
        with pytest.raises(ValueError, match=message):
            train_objective([*good, bad], tmp_path, tmp_path / "out", TrainConfig(objective="process_reward"))


def test_a_solution_with_no_scored_step_ranks_last_under_every_aggregate():
    from w2s_ray.score.reward_models import aggregate
    from w2s_ray.select.rerank import pick

    for how in ("min", "prod", "last"):
        assert math.isnan(aggregate([], how))
        assert math.isnan(aggregate([0.99, math.nan], how))  # a step past max_length: no full score
        assert aggregate([0.99, 0.98], how) == pytest.approx({"min": 0.98, "prod": 0.99 * 0.98, "last": 0.98}[how])
        column = f"prm_{how}"
        bare = {"sample_index": 0, "answer": "7", column: aggregate([], how)}  # the whole text "#### 7"
        truncated = {"sample_index": 1, "answer": "8", column: aggregate([0.999, math.nan], how)}
        shown = {"sample_index": 2, "answer": "9", column: aggregate([0.99, 0.98], how)}
        assert pick([bare, truncated, shown], "best_of_n", column) == "9"
        assert pick([bare, truncated, shown], "weighted", column) == "9"
