"""A planted, easy-to-raise reward for the RL run's test (tests/test_e2h_rl_iterations.py), named by
import path (`tests.planted_reward:AdditionShare`) as a user's own scorer is: the share of a
solution's arithmetic operators that are "+". The tiny world policy writes every operator, so a
group's samples differ in it from the first step on: GRPO has a signal in nearly every group, and
raising it needs no arithmetic the tiny model cannot do."""
from __future__ import annotations

import re

import numpy as np

from w2s_ray.score.base import Batch, Scorer

OPERATOR_RE = re.compile(r"(?<=\s)[-+*/](?=\s)")  # " 3 + 4 = 7": operators between spaces, not signs


def addition_share(text: str) -> float:
    operators = OPERATOR_RE.findall(text or "")
    return operators.count("+") / len(operators) if operators else 0.0


class AdditionShare(Scorer):
    name = "addition_share"
    columns = ("addition_share",)
    num_cpus = 0.25

    def __call__(self, batch: Batch) -> Batch:
        return {"addition_share": np.array([addition_share(t) for t in batch["text"]], dtype=np.float64)}
