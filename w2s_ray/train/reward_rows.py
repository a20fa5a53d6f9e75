"""Training rows of the reward models, validated in the driver before Ray Train starts.

Outcome RM ("reward"): {prompt, chosen, rejected} pairs, a right and a wrong solution of one question
(text/reward_format.outcome_rm_pair builds prompt and completions), validated as preference pairs.
Process RM ("process_reward"): {prompt, steps, labels}: the zero-shot prompt, the solution's steps
(step_checker.split_steps) and one label per step, 1 right / 0 wrong (Sun et al. 2024, METHODS.md 4).
Extra columns (provenance: the label's source, the problem id) are accepted and left out of training.
"""
from __future__ import annotations

from collections.abc import Sequence

from w2s_ray.train.preference import validate_preference_rows

STEP_FIELDS = ("prompt", "steps", "labels")


def validate_reward_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    return validate_preference_rows(rows, first)


def validate_process_reward_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    """Only {prompt, steps, labels}, at least one row; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no step-labelled rows to train the process reward model on")
    clean = []
    for i, row in enumerate(rows, start=first):
        prompt, steps, labels = row.get("prompt"), row.get("steps"), row.get("labels")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"process reward row {i} field 'prompt' must be a non-empty string")
        steps, labels = _as_list(steps), _as_list(labels)
        if steps is None or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
            raise ValueError(f"process reward row {i} field 'steps' must be a non-empty list of non-empty strings")
        if labels is None or len(labels) != len(steps):
            raise ValueError(f"process reward row {i} field 'labels' must be a list as long as 'steps' "
                             f"({len(steps)}), got {labels!r}")
        if not all(int(label) in (0, 1) and int(label) == label for label in labels):
            raise ValueError(f"process reward row {i} field 'labels' must hold 0 or 1, got {labels!r}")
        clean.append({"prompt": prompt, "steps": list(steps), "labels": [int(label) for label in labels]})
    return clean


def _as_list(value):
    """A list, a tuple or a numpy array (a list column read back from parquet) as a list; else None."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        out = value.tolist()
        return out if isinstance(out, list) else None
    return None
