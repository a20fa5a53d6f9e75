"""Area under the ROC curve of scores against 0/1 labels (the PRM's step AUROC): the share of
(positive, negative) pairs the scores order rightly, ties counting half. None without both classes."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    pairs = [(float(s), int(y)) for s, y in zip(scores, labels) if not math.isnan(float(s))]
    n_pos = sum(y for _, y in pairs)
    n_neg = len(pairs) - n_pos
    if not n_pos or not n_neg:
        return None
    # Mann-Whitney U from average ranks: O(n log n), ties share their rank.
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][0])
    ranks = [0.0] * len(pairs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and pairs[order[j + 1]][0] == pairs[order[i]][0]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, (_, y) in zip(ranks, pairs) if y == 1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auroc_sorted(chunks: Iterable[tuple[Sequence[float], Sequence[int]]]) -> float | None:
    """`auroc` of pairs handed in ascending score order, in chunks (a tie may cross two), NaN scores
    already left out: the same number, bit for bit (its rank sum is of half-integers, exact in a float,
    whatever order they are added in), from one pass that holds a chunk at a time."""
    n_pos = n_neg = 0
    rank_sum = 0.0
    before = 0  # pairs ranked below the tie group being read
    value, size, positives = None, 0, 0
    for scores, labels in chunks:
        for s, y in zip(scores, labels):
            s, y = float(s), int(y)
            if size and s == value:
                size += 1
            else:
                rank_sum += positives * ((2 * before + size - 1) / 2 + 1)
                before, value, size, positives = before + size, s, 1, 0
            positives += y
            n_pos += y
            n_neg += 1 - y
    rank_sum += positives * ((2 * before + size - 1) / 2 + 1)
    if not n_pos or not n_neg:
        return None
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
