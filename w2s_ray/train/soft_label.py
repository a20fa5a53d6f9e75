"""The rows of soft-label KL training (LightReasoner; objective "soft_kl": objectives/soft_kl.py, an HF
Trainer with the KL loss of soft_label_worker.py): {input_ids, target_ids, target_probs}.

Rows are what select/light_reasoner.select_steps writes: a token-id prefix, and a sparse target over
V_t (parallel id and probability lists, the probabilities summing to 1). Extra columns are accepted
and left out of training.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

SOFT_LABEL_FIELDS = ("input_ids", "target_ids", "target_probs")


def validate_soft_label_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    """Only the three fields, checked; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no soft-label rows to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows, start=first):
        values = {}
        for field in SOFT_LABEL_FIELDS:
            value = row.get(field)
            if value is None or isinstance(value, (str, bytes)) or not len(value):
                raise ValueError(f"soft-label row {i} field {field!r} must be a non-empty list, got {value!r:.80}")
            values[field] = list(value)
        ids, targets, probs = values["input_ids"], values["target_ids"], values["target_probs"]
        if not all(isinstance(t, int) or float(t).is_integer() for t in ids + targets):
            raise ValueError(f"soft-label row {i}: input_ids and target_ids must be integers")
        if len(targets) != len(probs):
            raise ValueError(f"soft-label row {i}: {len(targets)} target_ids but {len(probs)} target_probs")
        probs = [float(p) for p in probs]
        if not all(math.isfinite(p) and p >= 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-4:
            raise ValueError(f"soft-label row {i} field 'target_probs' is not a distribution (sum {sum(probs):.6f})")
        clean.append({"input_ids": [int(t) for t in ids], "target_ids": [int(t) for t in targets],
                      "target_probs": probs})
    return clean
