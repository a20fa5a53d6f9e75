"""Burns et al.'s auxiliary confidence loss (METHODS.md 7), for answers that are a choice, and its rows.

The student is trained by cross-entropy toward a mix of the weak label and its own hardened prediction,
the hardened share `aux_weight` ramping to `aux_coef` (0.5): where the student is confident against the
weak teacher, it is not pulled all the way to the teacher's mistake.

Re-implemented from the authors' code, openai/weak-to-strong @ 6b450f2, weak_to_strong/loss.py
`logconf_loss_fn` (lines 71-108); tests/test_confidence_loss.py re-implements that function line by
line and compares on random tensors. What it does, exactly:
  - the weight (lines 96-97): `coef = 1.0 if step_frac > warmup_frac else step_frac`, times aux_coef.
    During the warm-up it is step_frac itself, not step_frac / warmup_frac: with warmup_frac 0.1 it
    climbs 0 -> 0.05 and then jumps to 0.5, not the linear ramp to 0.5 the paper describes.
    `warmup="authors"` (the default) is that; `warmup="linear"` is min(step_frac / warmup_frac, 1) *
    aux_coef, the paper's words.
  - hardening (lines 99-105, binary only there): the threshold on P(class 0) is the batch quantile at
    the weak labels' mean share of class 1, so the student's hardened labels take the same class
    balance as the weak labels in the batch; a prediction exactly at the threshold is class 0.
  - the loss (106-108): cross-entropy to labels * (1 - w) + hardened * w, the hardened part detached,
    averaged over the batch.
Beyond the authors' code: a choice of more than two options (logic's yes / no / unknown, facts' A-D)
is hardened to its argmax, and a batch may mix choices of different sizes (padded, `choice_mask`): the
quantile rule then runs over the batch's two-option rows alone, so an all-binary batch is exactly theirs.

Rows: {input_ids: the prompt's tokens, choice_ids: the token id of each option's answer, weak_probs:
the weak label over the options (one-hot for a hard label; it sums to 1)}. The loss reads the logits at
the prompt's last token, over the options' tokens.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

WARMUPS = ("authors", "linear")
CONFIDENCE_FIELDS = ("input_ids", "choice_ids", "weak_probs")
_MASKED = -1e9  # an absent option's logit: no probability, and 0 * it stays finite


def aux_weight(step_frac: float, aux_coef: float = 0.5, warmup_frac: float = 0.1, warmup: str = "authors") -> float:
    """The hardened prediction's share of the target at `step_frac` of training (see the docstring)."""
    if warmup == "authors":
        return (1.0 if step_frac > warmup_frac else step_frac) * aux_coef
    if warmup == "linear":
        return min(step_frac / warmup_frac, 1.0) * aux_coef if warmup_frac > 0 else aux_coef
    raise ValueError(f"warmup must be one of {WARMUPS}, got {warmup!r}")


def harden(probs, weak_probs, choice_mask):
    """One-hot hardened predictions: two-option rows by the authors' batch quantile, others by argmax."""
    import torch

    hard = torch.nn.functional.one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
    binary = choice_mask.sum(dim=-1) == 2
    if binary.any():
        p0, weak = probs[binary, 0], weak_probs[binary, :2]
        threshold = torch.quantile(p0, weak.mean(dim=0)[1])
        first = (p0 >= threshold).to(probs.dtype)
        rows = torch.zeros_like(probs[binary])
        rows[:, 0], rows[:, 1] = first, 1.0 - first
        hard[binary] = rows
    return hard


def confidence_loss(logits, weak_probs, step_frac: float, aux_coef: float = 0.5, warmup_frac: float = 0.1,
                    warmup: str = "authors", choice_mask=None):
    """Mean over rows of CE(softmax(logits), weak * (1 - w) + hardened * w), w = aux_weight(step_frac).

    logits, weak_probs: [rows, options]; choice_mask (1 for a real option) pads rows with fewer."""
    import torch

    logits, weak_probs = logits.float(), weak_probs.float()
    mask = torch.ones_like(logits) if choice_mask is None else choice_mask.float()
    logits = logits.masked_fill(mask == 0, _MASKED)
    weight = aux_weight(step_frac, aux_coef, warmup_frac, warmup)
    probs = torch.softmax(logits, dim=-1)
    target = weak_probs * (1 - weight) + harden(probs, weak_probs, mask).detach() * weight
    return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def validate_confidence_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    """Only the three fields, checked; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no confidence-loss rows to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows, start=first):
        values = {}
        for field in CONFIDENCE_FIELDS:
            value = row.get(field)
            if value is None or isinstance(value, (str, bytes)) or not len(value):
                raise ValueError(f"confidence row {i} field {field!r} must be a non-empty list, got {value!r:.80}")
            values[field] = list(value)
        ids, choices, probs = values["input_ids"], values["choice_ids"], values["weak_probs"]
        if not all(isinstance(t, int) or float(t).is_integer() for t in ids + choices):
            raise ValueError(f"confidence row {i}: input_ids and choice_ids must be integers")
        if len(choices) < 2 or len(set(choices)) != len(choices):
            raise ValueError(f"confidence row {i} field 'choice_ids': at least two distinct options, got {choices}")
        if len(choices) != len(probs):
            raise ValueError(f"confidence row {i}: {len(choices)} choice_ids but {len(probs)} weak_probs")
        probs = [float(p) for p in probs]
        if not all(math.isfinite(p) and p >= 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-4:
            raise ValueError(f"confidence row {i} field 'weak_probs' is not a distribution (sum {sum(probs):.6f})")
        clean.append({"input_ids": [int(t) for t in ids], "choice_ids": [int(t) for t in choices],
                      "weak_probs": probs})
    return clean


def choice_row(input_ids: Sequence[int], choice_ids: Sequence[int], weak_choice: int | Sequence[float]) -> dict:
    """A row from a prompt, its options' answer tokens and the weak label: an option's index (a hard
    label) or a distribution over the options (a soft one)."""
    if isinstance(weak_choice, int):
        if not 0 <= weak_choice < len(choice_ids):
            raise ValueError(f"weak choice {weak_choice} is not one of {len(choice_ids)} options")
        probs = [1.0 if k == weak_choice else 0.0 for k in range(len(choice_ids))]
    else:
        probs = [float(p) for p in weak_choice]
    return validate_confidence_rows([{"input_ids": list(input_ids), "choice_ids": list(choice_ids),
                                      "weak_probs": probs}])[0]
