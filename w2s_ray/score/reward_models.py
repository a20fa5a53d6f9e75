"""reward_model and process_reward_model: learned scorers on the scoring actor pool.

Each actor loads its model once (in __init__, inside the actor) and scores a batch with batched
forward passes of `forward_batch_size` sequences, right-padded with an attention mask, so a padded
sequence scores as it would alone. Resources: a CPU by default; on a GPU cluster set the spec's
`num_gpus: 1` (the model goes to CUDA when the actor has one, `device: auto`).

  reward_model          `reward`: the outcome RM's scalar for (question, solution) (text/reward_format.py)
  process_reward_model  `step_scores`: P(step right) at each step end, a list per row in the step
                        checker's step order (empty for a text without steps), then, with
                        `answer_step`, the final-answer step's ("#### 19"); `prm_min`, `prm_prod`,
                        `prm_last`: the aggregates best-of-N ranks by (NaN, ranked last, for a text
                        without steps or with a step past max_length)

The question comes from the `question` column (the zero-shot prompt is rebuilt from it, as in
training), never from `prompt`, which may carry few-shot demos the RM never saw.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from w2s_ray.score.base import Batch, Scorer, object_column, register, require_column
from w2s_ray.text.prompts import zero_shot
from w2s_ray.text.reward_format import outcome_rm_ids, process_rm_ids
from w2s_ray.text.steps import solution_steps


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _padded(sequences: list[list[int]], pad_id: int):
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, :len(seq)] = 1
    return ids, mask


class _ModelScorer(Scorer):
    num_cpus = 1.0
    auto_class = ""  # the transformers Auto class of the checkpoint

    def __init__(self, *, model_path: str, device: Literal["auto", "cpu", "cuda"] = "auto",
                 forward_batch_size: int = 16, max_length: int = 1024, text_column: str = "text",
                 question_column: str = "question"):
        import torch
        import transformers

        self.device = _device(device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
        cls = getattr(transformers, self.auto_class)
        self.model = cls.from_pretrained(model_path, dtype=torch.float32).to(self.device).eval()
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.tokenizer.eos_token_id
        self.model.config.pad_token_id = self.pad_id
        self.forward_batch_size, self.max_length = forward_batch_size, max_length
        self.text_column, self.question_column = text_column, question_column

    def _inputs(self, batch: Batch) -> tuple[list[str], list[str]]:
        texts = require_column(batch, self.text_column, self.name)
        questions = require_column(batch, self.question_column, self.name)
        return [t if isinstance(t, str) else "" for t in texts], [q if isinstance(q, str) else "" for q in questions]

    def _forward(self, sequences: list[list[int]]):
        """Logits per sequence (the model's output for each, unpadded), in forward_batch_size chunks."""
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(sequences), self.forward_batch_size):
                chunk = sequences[start:start + self.forward_batch_size]
                ids, mask = _padded(chunk, self.pad_id)
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                out.extend(logits[i].float().cpu() for i in range(len(chunk)))
        return out


@register("reward_model")
class RewardModelScorer(_ModelScorer):
    columns = ("reward",)
    auto_class = "AutoModelForSequenceClassification"

    def __call__(self, batch: Batch) -> Batch:
        texts, questions = self._inputs(batch)
        # The end of an over-long sequence is cut (the score is read at its last token, which is kept).
        sequences = [outcome_rm_ids(self.tokenizer, q, t)[-self.max_length:] for q, t in zip(questions, texts)]
        logits = self._forward(sequences) if sequences else []
        return {"reward": np.array([float(x.reshape(-1)[0]) for x in logits], dtype=np.float64)}


@register("process_reward_model")
class ProcessRewardScorer(_ModelScorer):
    columns = ("step_scores", "prm_min", "prm_prod", "prm_last")
    auto_class = "AutoModelForTokenClassification"

    def __init__(self, *, model_path: str, step_sep: Literal["line", "blank_line"] = "line",
                 answer_step: bool = False, device: Literal["auto", "cpu", "cuda"] = "auto",
                 forward_batch_size: int = 16, max_length: int = 1024, text_column: str = "text",
                 question_column: str = "question"):
        super().__init__(model_path=model_path, device=device, forward_batch_size=forward_batch_size,
                         max_length=max_length, text_column=text_column, question_column=question_column)
        self.step_sep, self.answer_step = step_sep, answer_step

    def __call__(self, batch: Batch) -> Batch:
        texts, questions = self._inputs(batch)
        encoded = [process_rm_ids(self.tokenizer, zero_shot(q), solution_steps(t, self.step_sep, self.answer_step))
                   for q, t in zip(questions, texts)]
        # Steps past max_length are not scored (NaN), never silently given a neighbour's score.
        sequences = [ids[:self.max_length] for ids, _ in encoded]
        logits = self._forward(sequences) if sequences else []
        scores = []
        for (_, ends), row_logits in zip(encoded, logits):
            probs = step_probabilities(row_logits)
            scores.append([float(probs[e]) if e < len(probs) else math.nan for e in ends])
        return {
            "step_scores": object_column(scores),
            "prm_min": np.array([aggregate(s, "min") for s in scores], dtype=np.float64),
            "prm_prod": np.array([aggregate(s, "prod") for s in scores], dtype=np.float64),
            "prm_last": np.array([aggregate(s, "last") for s in scores], dtype=np.float64),
        }


def step_probabilities(logits):
    """P(right) per token from a token-classification head: 2 labels (0 wrong, 1 right) or one logit."""
    import torch

    if logits.shape[-1] == 1:
        return torch.sigmoid(logits[..., 0]).tolist()
    return torch.softmax(logits, dim=-1)[..., 1].tolist()


def aggregate(scores, how: str) -> float:
    """A solution's score from its step scores (METHODS.md 4): min, product or last. A solution with
    no step, or with a step left unscored (past max_length: NaN), has no score (NaN), and reranking
    ranks it last (select/rerank.py): an empty product of 1.0 let a bare "#### 7" beat every solution
    that showed its work, and skipping a truncated step let a solution drop its worst steps."""
    if how not in ("min", "prod", "last"):
        raise ValueError(f"aggregate must be min, prod or last, got {how!r}")
    if not scores or any(math.isnan(s) for s in scores):
        return math.nan
    if how == "min":
        return min(scores)
    if how == "prod":
        return math.prod(scores)
    return scores[-1]
