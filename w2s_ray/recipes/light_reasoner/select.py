"""LightReasoner's step selection (METHODS.md 2.3-2.5): from contrast-scored expert solutions
(score/contrast.py) to soft-label training rows.

  keep step t >= first_step when KL(pi_E || pi_A) >= beta
  target v(a) = softmax over V_t of (log pi_E(a) - log pi_A(a)); zero outside V_t

Step t is the position that predicts the solution's t-th token (from 0). The authors score from
t = 1 (LightR_sampling.py, `for step in range(1, len(expert_targets))`): the first token, predicted
from the prompt alone, is never a training step there. With `epsilon` > 0 the target is theirs,
softmax of log(pi_E + eps) - log(pi_A + eps), which bounds the pull of a token the amateur gives ~0.

One training row per kept step: the forced token ids up to and including position t (the student
reads the same prefix the expert did and is trained at its last position), and the target over V_t
as two parallel lists (`target_ids`, `target_probs`), never a full-vocabulary row.

Only the contrast columns and the row's identity are read: no answer, gold or correctness.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from w2s_ray.select.selection import Selection

def contrast_target(logp_expert: Sequence[float], logp_amateur: Sequence[float], epsilon: float = 0.0) -> np.ndarray:
    """v over V_t: softmax of (log pi_E - log pi_A), the two given over the same ids of V_t; with
    epsilon, of log(pi_E + eps) - log(pi_A + eps)."""
    le, la = np.asarray(logp_expert, dtype=np.float64), np.asarray(logp_amateur, dtype=np.float64)
    if epsilon > 0:
        le, la = np.logaddexp(le, np.log(epsilon)), np.logaddexp(la, np.log(epsilon))
    score = le - la
    score = np.exp(score - score.max())  # shifted: the softmax is unchanged and exp cannot overflow
    return score / score.sum()


def kl_quantile_beta(rows: Sequence[dict], keep_fraction: float, first_step: int = 0) -> float:
    """The beta that keeps about `keep_fraction` of the steps from first_step on: the
    (1 - keep_fraction) quantile of their KL (NaN left out; steps tied at it are all kept). +inf
    when no step has a KL."""
    kls = np.asarray(step_kls(rows, first_step), dtype=np.float64)
    if kls.size == 0:
        return float("inf")
    return float(np.quantile(kls, 1.0 - keep_fraction, method="higher"))


def step_kls(rows: Iterable[dict], first_step: int = 0) -> list[float]:
    """The KL of every step from first_step on, NaN left out (the steps a quantile of KL is over)."""
    return [float(kl) for row in rows for kl in list(row["contrast_kl"])[first_step:]
            if kl is not None and not math.isnan(kl)]


def select_steps(rows: Iterable[dict], beta: float, keep_fraction: float | None = None, first_step: int = 0,
                 epsilon: float = 0.0) -> Selection:
    """Selection of every step t >= first_step with KL >= beta, as soft-label rows; unit "step".
    Steps before first_step are not candidates (not counted in n_in). With keep_fraction,
    beta is raised to the KL quantile that keeps that share of the steps (never lowered below the
    given beta): the paper's beta is on a 1.5B model's KL scale, a small model's may be another."""
    rows = sorted(rows, key=lambda r: (str(r["problem_id"]), str(r["model"]), int(r["sample_index"] or 0)))
    if keep_fraction is not None:
        beta = max(beta, kl_quantile_beta(rows, keep_fraction, first_step))
    out, n_steps, low_kl = [], 0, 0
    for row in rows:
        ids, n_prompt = [int(i) for i in row["contrast_ids"]], int(row["contrast_prompt_len"])
        first = max(n_prompt, 1) - 1  # the position that predicts the solution's first token
        kls = list(row["contrast_kl"])
        n_steps += max(len(kls) - first_step, 0)
        for t, kl in enumerate(kls):
            if t < first_step:
                continue
            if not kl >= beta:  # NaN is never kept
                low_kl += 1
                continue
            mask = [int(a) for a in row["contrast_mask_ids"][t]]
            target = contrast_target(row["contrast_logp_expert"][t], row["contrast_logp_amateur"][t], epsilon)
            out.append({
                "problem_id": str(row["problem_id"]), "source_model": str(row["model"]),
                "sample_index": int(row["sample_index"] or 0), "step": t, "kl": float(kl),
                "input_ids": ids[: first + t + 1], "target_ids": mask, "target_probs": target.tolist(),
            })
    return Selection(rows=out, n_in=n_steps, kept=len(out), dropped={"kl_below_beta": low_kl}, unit="step",
                     extra={"beta": beta, "first_step": first_step})


def rejection_sampling_sft(rows: Iterable[dict], sampled_prompt: bool = False) -> Selection:
    """The baseline's training set: the expert's own samples whose answers are right (gold-checked),
    as SFT rows; unit "solution". sampled_prompt: each row keeps the prompt it was sampled with (a
    chat prompt), not the zero-shot template."""
    from w2s_ray.select.selection import sft_row

    rows = list(rows)
    right = [sft_row(r, "strong") for r in rows if bool(r.get("correct") or False) and (r.get("text") or "").strip()]
    if sampled_prompt:
        # A chat prompt ends in the assistant's turn: the completion follows it without the space
        # the Question/Answer template puts after "Answer:".
        by_id = {(str(r["problem_id"]), int(r["sample_index"] or 0)): r for r in rows}
        right = [{**s, "prompt": str(by_id[(s["problem_id"], s["sample_index"])]["prompt"]),
                  "completion": s["completion"][1:]} for s in right]
    return Selection(rows=right, n_in=len(rows), kept=len(right), dropped={"wrong_or_empty": len(rows) - len(right)},
                     unit="solution")
