"""Early stopping on the training rows' own held-out slice (weak labels, never gold).

A strong student fine-tuned on weak labels first learns what it can already do (the format, the
easy parts) and only later fits the teacher's errors (Burns et al. 2023; Medvedev et al. 2025):
the loss on held-out *weak* rows bottoms out around the switch. The slice is taken from the rows
the stage trains on (so a weak-supervised stage never sees gold), whole problems at a time, and the
weights with the lowest held-out loss are kept (in memory: no mid-run checkpoint files).
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable


def held_prompts(prompts, share: float, seed: int) -> set[str]:
    """The prompts (problems) held out of `prompts`, by a seeded hash: the choice does not depend on
    their order. Both sides keep at least one problem."""
    prompts = sorted(set(prompts))
    if len(prompts) < 2:
        raise ValueError(f"early stopping needs rows of at least 2 problems to hold some out; got {len(prompts)}")

    def position(prompt: str) -> float:
        return int(hashlib.sha256(f"{seed}:{prompt}".encode()).hexdigest()[:12], 16) / 16**12

    ranked = sorted(prompts, key=position)
    n_holdout = min(len(prompts) - 1, max(1, round(share * len(prompts))))
    return set(ranked[:n_holdout])


def holdout_of(prompts: Iterable[str], share: float, seed: int) -> tuple[set[str], int]:
    """(held prompts, the number of rows that have them) of the rows' prompts, one per row: what a
    rank needs to set the holdout aside before it shards the rest (train/shards.split_rank_rows)."""
    counts = Counter(prompts)
    held = held_prompts(counts, share, seed)
    return held, sum(counts[prompt] for prompt in held)


def split_holdout(rows: list[dict], share: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, holdout): rows with the same prompt (one problem) land on the same side (held_prompts)."""
    held = held_prompts((r["prompt"] for r in rows), share, seed)
    return [r for r in rows if r["prompt"] not in held], [r for r in rows if r["prompt"] in held]


def keep_best_callback(patience: int | None):
    """A transformers TrainerCallback that snapshots the trainable weights at each new best
    eval_loss and can stop after `patience` evaluations without one."""
    from transformers import TrainerCallback

    class KeepBest(TrainerCallback):
        def __init__(self) -> None:
            self.best_loss, self.best_step, self.since_best = math.inf, None, 0
            self.history: list[dict] = []
            self._snapshot: dict | None = None

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            loss = float((metrics or {}).get("eval_loss", math.nan))
            self.history.append({"step": int(state.global_step), "eval_loss": loss})
            if loss < self.best_loss:
                self.best_loss, self.best_step, self.since_best = loss, int(state.global_step), 0
                self._snapshot = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            else:
                self.since_best += 1
                if patience is not None and self.since_best >= patience:
                    control.should_training_stop = True
            return control

        def restore(self, model) -> None:
            import torch

            if self._snapshot is None:
                return
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if name in self._snapshot:
                        param.copy_(self._snapshot[name])

        def report(self) -> dict:
            return {"best_step": self.best_step, "best_eval_loss": self.best_loss, "history": self.history}

    return KeepBest()
