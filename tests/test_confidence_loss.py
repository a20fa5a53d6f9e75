"""Burns et al.'s auxiliary confidence loss (train/confidence.py, objective "logconf"): the same as the
authors' code on random tensors, right by hand on small ones, and its rows and trainer inputs."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from w2s_ray.config.base import hash_exclude
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.confidence import aux_weight, choice_row, confidence_loss, validate_confidence_rows
from w2s_ray.train.confidence_worker import choice_logits, collate, step_fraction
from w2s_ray.train.objectives import get_objective


def authors_logconf(logits, labels, step_frac, aux_coef=0.5, warmup_frac=0.1):
    """openai/weak-to-strong @ 6b450f2, weak_to_strong/loss.py, logconf_loss_fn.__call__ (lines 94-108),
    line by line."""
    logits = logits.float()
    labels = labels.float()
    coef = 1.0 if step_frac > warmup_frac else step_frac
    coef = coef * aux_coef
    preds = torch.softmax(logits, dim=-1)
    mean_weak = torch.mean(labels, dim=0)
    assert mean_weak.shape == (2,)
    threshold = torch.quantile(preds[:, 0], mean_weak[1])
    strong_preds = torch.cat(
        [(preds[:, 0] >= threshold)[:, None], (preds[:, 0] < threshold)[:, None]],
        dim=1,
    )
    target = labels * (1 - coef) + strong_preds.detach() * coef
    loss = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    return loss.mean()


@pytest.mark.parametrize("seed", range(3))
def test_binary_batches_match_the_authors_loss_and_gradient(seed):
    gen = torch.Generator().manual_seed(seed)
    for rows in (1, 17):
        logits = torch.randn(rows, 2, generator=gen) * 3
        hard = torch.nn.functional.one_hot(torch.randint(0, 2, (rows,), generator=gen), 2).float()
        soft = torch.softmax(torch.randn(rows, 2, generator=gen), dim=-1)
        for labels in (hard, soft):
            for step_frac in (0.0, 0.03, 0.1001, 1.0):
                for aux_coef, warmup_frac in ((0.5, 0.1), (0.3, 0.25)):
                    ours_in, theirs_in = logits.clone().requires_grad_(), logits.clone().requires_grad_()
                    ours = confidence_loss(ours_in, labels, step_frac, aux_coef, warmup_frac)
                    theirs = authors_logconf(theirs_in, labels, step_frac, aux_coef, warmup_frac)
                    ours.backward()
                    theirs.backward()
                    assert torch.allclose(ours, theirs, atol=1e-6), (rows, step_frac, ours, theirs)
                    assert torch.allclose(ours_in.grad, theirs_in.grad, atol=1e-6)


def test_by_hand():
    # P(class 0): 0.75 and 0.5; weak labels 1 and 0, so the threshold is the median of P(class 0),
    # 0.625 (linear interpolation): row 1 hardens to class 0, row 2 to class 1.
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    weak = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    # Past the warm-up the weight is 0.5: both targets are (0.5, 0.5).
    row1 = -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))
    assert confidence_loss(logits, weak, 0.5).item() == pytest.approx((row1 + math.log(2)) / 2, abs=1e-6)
    # In the authors' warm-up at step_frac 0.05 the weight is 0.05 * 0.5 = 0.025.
    row1 = -(0.025 * math.log(0.75) + 0.975 * math.log(0.25))
    assert confidence_loss(logits, weak, 0.05).item() == pytest.approx((row1 + math.log(2)) / 2, abs=1e-6)
    # The linear warm-up is halfway at 0.05: weight 0.25.
    row1 = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    assert confidence_loss(logits, weak, 0.05, warmup="linear").item() == \
        pytest.approx((row1 + math.log(2)) / 2, abs=1e-6)
    # Three options harden to the argmax: P = (0.25, 0.5, 0.25), weak label 0, target (0.5, 0.5, 0).
    three = torch.tensor([[0.0, math.log(2.0), 0.0]])
    assert confidence_loss(three, torch.tensor([[1.0, 0.0, 0.0]]), 1.0).item() == \
        pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.5)), abs=1e-6)


def test_the_weight_ramps_to_aux_coef():
    assert [aux_weight(f) for f in (0.0, 0.04, 0.1, 0.1001, 1.0)] == pytest.approx([0.0, 0.02, 0.05, 0.5, 0.5])
    assert [aux_weight(f, warmup="linear") for f in (0.0, 0.05, 0.1, 1.0)] == pytest.approx([0.0, 0.25, 0.5, 0.5])
    assert aux_weight(0.0, warmup="linear", warmup_frac=0.0) == 0.5
    with pytest.raises(ValueError, match="warmup must be one of"):
        aux_weight(0.5, warmup="cosine")


def test_a_padded_mixed_batch_is_its_parts():
    gen = torch.Generator().manual_seed(0)
    binary, three = torch.randn(4, 2, generator=gen), torch.randn(2, 3, generator=gen)
    weak2 = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 0]), 2).float()
    weak3 = torch.nn.functional.one_hot(torch.tensor([2, 0]), 3).float()
    logits = torch.cat([torch.cat([binary, torch.full((4, 1), 7.0)], dim=1), three])  # a junk padded logit
    weak = torch.cat([torch.cat([weak2, torch.zeros(4, 1)], dim=1), weak3])
    mask = torch.cat([torch.tensor([[1.0, 1.0, 0.0]] * 4), torch.ones(2, 3)])
    mixed = confidence_loss(logits, weak, 0.7, choice_mask=mask)
    parts = (4 * confidence_loss(binary, weak2, 0.7) + 2 * confidence_loss(three, weak3, 0.7)) / 6
    assert torch.isfinite(mixed) and mixed.item() == pytest.approx(parts.item(), abs=1e-6)


def test_the_hardened_part_is_a_fixed_target():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], requires_grad=True)
    weak = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    confidence_loss(logits, weak, 1.0).backward()
    target = weak * 0.5 + torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) * 0.5
    expected = torch.softmax(logits.detach(), dim=-1) - target  # d CE / d logits, per row, over 2 rows
    assert torch.allclose(logits.grad, expected / 2, atol=1e-6)


def test_rows_are_checked_and_built_from_a_hard_or_soft_weak_label():
    assert choice_row([5, 6], [10, 11, 12], 1) == {"input_ids": [5, 6], "choice_ids": [10, 11, 12],
                                                  "weak_probs": [0.0, 1.0, 0.0]}
    assert choice_row([5], [10, 11], [0.25, 0.75])["weak_probs"] == [0.25, 0.75]
    bad = [([], [1, 2], [0.5, 0.5], "input_ids"), ([1], [3], [1.0], "at least two"),
           ([1], [3, 3], [0.5, 0.5], "distinct"), ([1], [3, 4], [0.5], "2 choice_ids but 1"),
           ([1], [3, 4], [0.7, 0.7], "not a distribution"), ([1.5], [3, 4], [0.5, 0.5], "integers")]
    for ids, choices, probs, message in bad:
        with pytest.raises(ValueError, match=message):
            validate_confidence_rows([{"input_ids": [1], "choice_ids": [3, 4], "weak_probs": [0.5, 0.5]},
                                      {"input_ids": ids, "choice_ids": choices, "weak_probs": probs}])
    with pytest.raises(ValueError, match="weak choice 2"):
        choice_row([1], [3, 4], 2)


def test_the_trainer_reads_the_options_at_each_prompts_last_token():
    batch = collate(pad_id=0)([{"input_ids": [4, 5, 6], "choice_ids": [1, 2], "weak_probs": [1.0, 0.0]},
                               {"input_ids": [7], "choice_ids": [1, 2, 3], "weak_probs": [0.0, 0.0, 1.0]}])
    assert batch["choice_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    logits = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)  # [rows, positions, vocab]
    picked = choice_logits(logits, batch["attention_mask"], batch["choice_ids"])
    assert picked.tolist() == [[11.0, 12.0, 10.0], [16.0, 17.0, 18.0]]  # row 0 at position 2, row 1 at 0
    assert step_fraction(SimpleNamespace(global_step=3, max_steps=12)) == 0.25
    assert step_fraction(SimpleNamespace(global_step=0, max_steps=0)) == 0.0


def test_logconf_is_an_objective_with_a_config_section_that_hashes_as_absent():
    assert get_objective("logconf").rows is validate_confidence_rows
    config = TrainConfig(objective="logconf", confidence={"aux_coef": 0.4, "warmup": "linear"})
    assert config.confidence.aux_coef == 0.4 and config.confidence.warmup_frac == 0.1
    assert "confidence" in hash_exclude(TrainConfig())
    with pytest.raises(ValueError, match="confidence section is for objective 'logconf'"):
        TrainConfig(objective="sft", confidence={})
