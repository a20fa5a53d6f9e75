"""The plurality vote over answers, shared by the majority_vote scorer and reranking (select/rerank.py)."""
from __future__ import annotations

from collections import Counter


def vote(answers: list[str], order: list[int] | None = None) -> tuple[str, int]:
    """(top answer, its votes) among non-empty answers; ("", 0) if there are none.

    `order` gives each answer's position for tie-breaking (default: list position).
    """
    order = list(range(len(answers))) if order is None else order
    counts = Counter(a for a in answers if a)
    if not counts:
        return "", 0
    first_seen: dict[str, int] = {}
    for answer, position in zip(answers, order):
        if answer:
            first_seen[answer] = min(position, first_seen.get(answer, position))
    top = min(counts, key=lambda a: (-counts[a], first_seen[a], a))
    return top, counts[top]
