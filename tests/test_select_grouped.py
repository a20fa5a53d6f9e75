"""A selection computed per problem (or per batch) and added up equals the list function on the whole
input: the same rows in the same order, the same accounting and hash (select/grouped.py, which Ray
Data's group-by runs; here the groups are made in Python, without Ray)."""
from __future__ import annotations

import random

import pytest

from w2s_ray.select import build_preference_pairs, consistency_filter, take_all
from w2s_ray.select.grouped import (SIDE, CanonicalHash, account, add_accounts, consistency_piece, preference_piece,
                                    row_json, summarize, take_all_piece)
from w2s_ray.select.selection import sort_key

ANSWERS = ["7", "8", "", "7.0", "9"]


def gen(pid, model, role, sample_index, rng, level=3):
    answer = rng.choice(ANSWERS)
    text = "" if rng.random() < 0.1 else f"{model} {pid} #{sample_index}\n#### {answer}"
    return {"problem_id": pid, "model": model, "role": role, "sample_index": sample_index, "question": f"q {pid}?",
            "text": text, "answer": answer, "level": None if rng.random() < 0.2 else level}


def world(seed, problems=40, teachers=("weak-a", "weak-b"), samples=6):
    """Weak rows (each teacher skips some problems, some have two samples), strong rows (one greedy,
    some problems missing), student samples (some problems missing)."""
    rng = random.Random(seed)
    pids = [f"p{i:03d}" for i in range(problems)]
    weak = [gen(p, t, "weak", s, rng) for p in pids for t in teachers if rng.random() < 0.8
            for s in range(rng.choice([1, 1, 2]))]
    strong = [gen(p, "strong", "strong", 0, rng) for p in pids if rng.random() < 0.9]
    student = [gen(p, "student", "strong", s, rng) for p in pids if rng.random() < 0.85 for s in range(samples)]
    return weak, strong, student


def pieces_by_problem(sides: dict[str, list[dict]]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    for side, rows in sides.items():
        for row in rows:
            groups.setdefault(row["problem_id"], []).append({**row, SIDE: side})
    return [groups[p] for p in sorted(groups)]


def run_in_pieces(kind, pieces, piece_fn):
    """What the Ray path does: each piece's selection and account, rows sorted as Selection sorts them,
    hashed one at a time."""
    rows, accounts = [], []
    for piece in pieces:
        selection = piece_fn(piece)
        accounts.append(account(selection, piece))
        rows.extend(selection.rows if selection is not None else [])
    rows.sort(key=sort_key)  # stable: a problem's rows keep their piece's order
    digest = CanonicalHash()
    for row in rows:
        digest.update(row_json(row))
    # Accounts added up in two levels, as blocks and then the driver add them.
    total = add_accounts([add_accounts(accounts[:len(accounts) // 2]), add_accounts(accounts[len(accounts) // 2:])])
    return rows, summarize(kind, total, len(rows), digest.hexdigest())


@pytest.mark.parametrize("seed", range(4))
def test_take_all_in_batches_equals_take_all(seed):
    weak, _, _ = world(seed)
    whole = take_all(weak)
    batches = [weak[i:i + 7] for i in range(0, len(weak), 7)]
    rows, summary = run_in_pieces("take_all", batches, take_all_piece)
    assert rows == whole.rows and summary.stats() == whole.stats()


@pytest.mark.parametrize("seed", range(4))
def test_consistency_per_problem_equals_the_filter(seed):
    weak, strong, _ = world(seed)
    whole = consistency_filter(weak, strong)
    rows, summary = run_in_pieces("consistency", pieces_by_problem({"weak": weak, "strong": strong}),
                                  consistency_piece)
    assert rows == whole.rows and summary.stats() == whole.stats()
    assert any(c["dropped"].get("missing_weak") for c in whole.by_teacher.values())  # the sum's fix-up is exercised


@pytest.mark.parametrize("seed,max_pairs", [(0, 1), (1, 1), (2, 3), (3, 3)])
def test_preference_pairs_per_problem_equal_the_whole(seed, max_pairs):
    weak, _, student = world(seed)
    settings = {"min_confidence": 0.3, "flip_confidence": 0.4, "seed": seed, "max_pairs": max_pairs}
    whole = build_preference_pairs(student, weak, **settings)
    rows, summary = run_in_pieces("preference", pieces_by_problem({"weak": weak, "student": student}),
                                  lambda piece: preference_piece(piece, **settings))
    assert whole.kept and rows == whole.rows and summary.stats() == whole.stats()
    assert whole.dropped.get("weak_missing")


def test_whole_input_checks_are_made_on_the_sum():
    weak, strong, student = world(0)
    other = [{**r, "model": "strong-2"} for r in strong[:1]]
    strong_rest = [r for r in strong if r["problem_id"] != other[0]["problem_id"]]
    with pytest.raises(ValueError, match="one strong model"):
        run_in_pieces("consistency", pieces_by_problem({"weak": weak, "strong": strong_rest + other}),
                      consistency_piece)
    with pytest.raises(ValueError, match="weak_rows is empty"):
        run_in_pieces("preference", pieces_by_problem({"student": student}), preference_piece)


def test_the_streamed_hash_is_canonical_sha256():
    from w2s_ray.select.selection import canonical_sha256

    rows = take_all(world(1)[0]).rows
    digest = CanonicalHash()
    for row in rows:
        digest.update(row_json(row))
    assert digest.hexdigest() == canonical_sha256(rows)
    assert CanonicalHash().hexdigest() == canonical_sha256([])
