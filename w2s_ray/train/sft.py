"""The rows of supervised fine-tuning (objective "sft": objectives/sft.py, TRL's SFTTrainer in sft_worker.py).

Rows use TRL's prompt-completion format: {"prompt": "Question: ...\\nAnswer:", "completion": " ..."}.
With completion_only_loss (the default) the loss covers the completion only; TRL appends EOS.
"""
from __future__ import annotations

from collections.abc import Sequence


def validate_sft_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    """Only {prompt, completion} strings, at least one row; errors name the first bad row."""
    if not rows:
        raise ValueError("no SFT rows to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows, start=first):
        prompt, completion = row.get("prompt"), row.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise ValueError(f"SFT row {i} needs string 'prompt' and 'completion', got keys {sorted(row)}")
        if not completion.strip():
            raise ValueError(f"SFT row {i} has an empty completion: nothing to learn from it")
        clean.append({"prompt": prompt, "completion": completion})
    return clean
