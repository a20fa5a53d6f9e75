"""What a reward model reads, one format for training and for scoring (a PRM scored on other tokens
than it was trained on would read noise at the step ends).

Outcome RM: the zero-shot prompt, the solution as a completion, EOS; the score is read at the last
token (TRL's RewardTrainer tokenizes `prompt + chosen + eos` the same way).

Process RM: the zero-shot prompt, then each step followed by STEP_END; the step's score is read at the
last token of its STEP_END. Training labels either every token of a step, its STEP_END included, with
the step's label (`every_token`: Sun et al.'s published command passes --train_on_every_token, and
their collator, easy-to-hard data_utils/data_utils_rm_pointwise.py, labels each target token, the
prompt and earlier steps weight 0), or the step-end token only (`step_end`, ours). Steps are
cut the way the step checker cuts them (score.step_checker.split_steps), so a step's index means the
same in `wrong_steps`, in step labels and in `step_scores`. Each piece is tokenized on its own and
the ids concatenated, so a step's end is a token boundary whatever the tokenizer would merge.
"""
from __future__ import annotations

from collections.abc import Sequence

from w2s_ray.text.prompts import completion_text, zero_shot

STEP_END = "\n"


def outcome_rm_pair(question: str, solution: str) -> tuple[str, str]:
    """(prompt, completion) as the outcome RM is trained on them; EOS is added by the tokenization."""
    return zero_shot(question), completion_text(solution.strip())


def outcome_rm_ids(tokenizer, question: str, solution: str) -> list[int]:
    prompt, completion = outcome_rm_pair(question, solution)
    text = prompt + completion
    if tokenizer.eos_token and not text.endswith(tokenizer.eos_token):
        text += tokenizer.eos_token
    return list(tokenizer(text)["input_ids"])


def process_rm_ids(tokenizer, prompt: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
    """Token ids of `prompt` and the steps, and the position of each step's end token."""
    ids = list(tokenizer(prompt)["input_ids"])  # with the tokenizer's special tokens (BOS)
    ends = []
    for i, step in enumerate(steps):
        piece = (" " if i == 0 else "") + step.strip() + STEP_END
        ids += tokenizer(piece, add_special_tokens=False)["input_ids"]
        ends.append(len(ids) - 1)
    return ids, ends


LABEL_TOKENS = ("every_token", "step_end")


def process_rm_token_labels(n_prompt: int, ends: Sequence[int], labels: Sequence[int], n_ids: int,
                            label_tokens: str = "every_token") -> list[int]:
    """One label per token of process_rm_ids' ids: -100 (no loss) on the prompt and on the steps
    without a label; a labelled step's label on every token of it (from the token after the previous
    step's end to its own end) or on its end token only."""
    if label_tokens not in LABEL_TOKENS:
        raise ValueError(f"label_tokens must be one of {LABEL_TOKENS}, got {label_tokens!r}")
    out = [-100] * n_ids
    starts = [n_prompt, *(end + 1 for end in ends[:-1])]
    for start, end, label in zip(starts, ends, labels):
        for position in range(start if label_tokens == "every_token" else end, end + 1):
            out[position] = int(label)
    return out
