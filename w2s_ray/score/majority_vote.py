"""majority_vote: the most common answer among the samples of one problem from one model.

Used by Stage II of weak-to-strong reasoning (Yang et al. 2024): top answer and confidence
c = votes / samples decide which samples become "chosen" and "rejected" in preference pairs.

Per (problem_id, model) group:
  vote_answer      most common non-empty normalised answer; "" if every sample is empty
  vote_confidence  votes for vote_answer / all samples in the group, empty answers included, so a
                   model that mostly fails to answer is not confident (3 of 10 is 0.3, not 1.0)
  vote_size        number of samples in the group
  in_majority      this row's answer is vote_answer (never true for an empty answer)

Ties go to the tied answer that appears first in sample order (lowest `sample_index`), then to the
smaller string. It is deterministic whatever order Ray delivers the rows in, and for greedy-first
sampling it favours the first sample.
"""
from __future__ import annotations


import numpy as np

from w2s_ray.score.base import Batch, Scorer, batch_length, column_values, register
from w2s_ray.text.answers import normalize_answer
from w2s_ray.text.vote import vote  # noqa: F401 - also read from here


@register("majority_vote")
class MajorityVote(Scorer):
    columns = ("vote_answer", "vote_confidence", "vote_size", "in_majority")
    group_by = ("problem_id", "model")
    num_cpus = 0.5
    num_gpus = 0.0

    def __init__(self, *, answer_column: str = "answer"):
        self.answer_column = answer_column

    def __call__(self, batch: Batch) -> Batch:
        """Votes within each group present in the batch.

        The stage hands over exactly one whole group per batch; grouping again here keeps the result
        right if a caller passes several whole groups at once (score_rows, or a plain map_batches).
        """
        n = batch_length(batch)
        answers = [normalize_answer(a) if a is not None else "" for a in
                   column_values(batch, self.answer_column)]
        order = [int(i) if i is not None else pos
                 for pos, i in enumerate(column_values(batch, "sample_index"))]
        keys = list(zip(*(column_values(batch, k) for k in self.group_by))) or [()] * n
        members: dict[tuple, list[int]] = {}
        for row, key in enumerate(keys):
            members.setdefault(key, []).append(row)
        top_of, confidence, size = [""] * n, [0.0] * n, [0] * n
        for rows in members.values():
            top, votes = vote([answers[r] for r in rows], [order[r] for r in rows])
            for r in rows:
                top_of[r], confidence[r], size[r] = top, votes / len(rows), len(rows)
        return {
            "vote_answer": np.array(top_of, dtype=object),
            "vote_confidence": np.array(confidence, dtype=np.float64),
            "vote_size": np.array(size, dtype=np.int64),
            "in_majority": np.array([bool(t) and a == t for a, t in zip(answers, top_of)], dtype=bool),
        }
