"""The rows of preference training (objectives "dpo" and "orpo": objectives/preference.py, TRL's trainers in
preference_worker.py): {prompt, chosen, rejected} pairs.

Rows use TRL's preference format: {"prompt": "Question: ...\\nAnswer:", "chosen": " ...", "rejected": " ..."},
as w2s_ray.select.build_preference_pairs writes them (its provenance columns are accepted and left
out of training). TRL appends EOS to both completions.

DPO's reference model is the starting model: with LoRA, the base with the adapter switched off
(TRL computes it from the same weights, no copy); without LoRA, TRL loads a frozen second copy, so a
full-model DPO run holds two models per worker. ORPO needs no reference model.
"""
from __future__ import annotations

from collections.abc import Sequence

PAIR_FIELDS = ("prompt", "chosen", "rejected")


def validate_preference_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    """Only {prompt, chosen, rejected} strings, at least one row; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no preference pairs to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows, start=first):
        for field in PAIR_FIELDS:
            value = row.get(field)
            if not isinstance(value, str):
                raise ValueError(f"preference row {i} field {field!r} must be a string, got {type(value).__name__}"
                                 f" (row keys {sorted(row)})")
            # An empty completion is only EOS; an empty prompt has no question to prefer answers to.
            if not value.strip():
                raise ValueError(f"preference row {i} field {field!r} is empty")
        if row["chosen"] == row["rejected"]:
            # The DPO loss of identical completions is constant: the pair carries no preference.
            raise ValueError(f"preference row {i} field 'rejected' equals 'chosen': the pair prefers nothing")
        clean.append({field: row[field] for field in PAIR_FIELDS})
    return clean
