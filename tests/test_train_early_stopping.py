"""Early stopping on held-out training rows: the split, and the best weights kept."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.early_stopping import keep_best_callback, split_holdout


def _rows(n_problems: int, per_problem: int = 2) -> list[dict]:
    return [{"prompt": f"Question: q{i}\nAnswer:", "completion": f" a{j}"}
            for i in range(n_problems) for j in range(per_problem)]


def test_a_problem_lands_on_one_side_whatever_the_order():
    rows = _rows(50)
    train, held = split_holdout(rows, 0.2, seed=0)
    assert len({r["prompt"] for r in held}) == 10 and len(train) + len(held) == len(rows)
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
    train2, held2 = split_holdout(list(reversed(rows)), 0.2, seed=0)
    assert {r["prompt"] for r in held2} == {r["prompt"] for r in held}
    assert {r["prompt"] for r in split_holdout(rows, 0.2, seed=1)[1]} != {r["prompt"] for r in held}


def test_both_sides_keep_a_problem_and_one_problem_is_refused():
    train, held = split_holdout(_rows(2), 0.01, seed=0)
    assert train and held
    train, held = split_holdout(_rows(3), 0.99, seed=0)
    assert train and held
    with pytest.raises(ValueError, match="at least 2 problems"):
        split_holdout(_rows(1), 0.5, seed=0)


class _State:
    def __init__(self, step):
        self.global_step = step


class _Control:
    should_training_stop = False


def test_the_best_weights_come_back_and_patience_stops():
    model = torch.nn.Linear(2, 1)
    keeper = keep_best_callback(patience=2)
    control = _Control()
    for step, loss, value in [(10, 1.0, 1.0), (20, 0.5, 2.0), (30, 0.7, 3.0), (40, 0.6, 4.0)]:
        with torch.no_grad():
            model.weight.fill_(value)
        keeper.on_evaluate(None, _State(step), control, metrics={"eval_loss": loss}, model=model)
    assert control.should_training_stop
    keeper.restore(model)
    assert torch.all(model.weight == 2.0)
    assert keeper.report()["best_step"] == 20 and len(keeper.report()["history"]) == 4


def test_config_refuses_early_stopping_where_it_cannot_work():
    with pytest.raises(ValidationError, match="objective 'sft'"):
        TrainConfig(objective="dpo", early_stopping={"holdout": 0.1})
    with pytest.raises(ValidationError, match="ZeRO-3"):
        TrainConfig(deepspeed="zero3", early_stopping={})
    assert TrainConfig(early_stopping={"holdout": 0.2}).early_stopping.holdout == 0.2
