import dataclasses
import random
from collections import Counter

import pytest

from w2s_ray.data.schema import content_hash
from w2s_ray.data.splits import (
    SPLIT_NAMES,
    build_demo_splits,
    deduplicate,
    make_splits,
    questions_only,
)
from w2s_ray.data.world import generate_world


def _hashes(problems):
    return {content_hash(p.question) for p in problems}


@pytest.fixture(scope="module")
def problems():
    return generate_world(400, seed=11)


def test_splits_disjoint_and_cover_all(problems):
    result = make_splits(problems)
    assert set(result.splits) == set(SPLIT_NAMES)
    sets = [_hashes(result.splits[name]) for name in SPLIT_NAMES]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]
    assert set().union(*sets) == _hashes(problems)
    assert result.duplicates == 0


def test_splits_stable_under_input_order(problems):
    shuffled = list(problems)
    random.Random(0).shuffle(shuffled)
    assert make_splits(shuffled) == make_splits(problems)


def test_split_of_a_question_does_not_depend_on_the_others(problems):
    full = make_splits(problems).splits
    half = make_splits(problems[::2]).splits
    for name in SPLIT_NAMES:
        assert _hashes(half[name]) <= _hashes(full[name])


def test_fractions_roughly_respected(problems):
    result = make_splits(problems, {"weak_train": 0.5, "strong_train": 0.5, "test": 0.0})
    assert result.splits["test"] == []
    assert 150 < len(result.splits["weak_train"]) < 250


@pytest.mark.parametrize(
    "fractions",
    [{"weak_train": 0.5, "strong_train": 0.6, "test": 0.0}, {"weak_train": 0.5, "test": 0.5}],
)
def test_bad_fractions_rejected(problems, fractions):
    with pytest.raises(ValueError):
        make_splits(problems, fractions)


def test_duplicates_counted_and_dropped(problems):
    # Same question, other whitespace and case, other id: still a duplicate.
    copy = dataclasses.replace(problems[0], id="zzz", question="  " + problems[0].question.upper())
    with_dups = problems + [problems[1], copy]
    result = make_splits(with_dups)
    assert result.duplicates == 2
    kept = [p for split in result.splits.values() for p in split]
    assert len(kept) == len(problems)
    assert problems[0] in kept  # the smallest id wins, whatever the order
    assert deduplicate(list(reversed(with_dups))) == deduplicate(with_dups)


def test_questions_only_removes_answers(problems):
    stripped = questions_only(problems[:10])
    assert all(p.gold is None and p.solution is None for p in stripped)
    assert [(p.id, p.question, p.level) for p in stripped] == [
        (p.id, p.question, p.level) for p in problems[:10]
    ]
    assert problems[0].gold is not None  # the originals are untouched


def test_demo_splits_exact_sizes_balanced_test_disjoint():
    splits = build_demo_splits(seed=5, n_weak_train=120, n_strong_train=80, n_test_per_level=9)
    assert {name: len(v) for name, v in splits.items()} == {
        "weak_train": 120,
        "strong_train": 80,
        "test": 45,
    }
    assert Counter(p.level for p in splits["test"]) == {level: 9 for level in range(1, 6)}
    hashes = [_hashes(splits[name]) for name in SPLIT_NAMES]
    assert sum(len(h) for h in hashes) == len(set().union(*hashes)) == 245
    assert build_demo_splits(5, 120, 80, 9) == splits


def test_demo_splits_with_a_tiny_split_still_fill():
    splits = build_demo_splits(seed=1, n_weak_train=0, n_strong_train=3, n_test_per_level=40)
    assert len(splits["weak_train"]) == 0
    assert len(splits["strong_train"]) == 3
    assert Counter(p.level for p in splits["test"]) == {level: 40 for level in range(1, 6)}


def test_demo_splits_of_different_sizes_never_cross():
    # A weak teacher is trained on one config's weak_train; a run may ask for other sizes. Its
    # strong_train and test must still be questions the teacher never saw (shares proportional to the
    # sizes would move questions between splits when the sizes change).
    teacher = build_demo_splits(seed=3, n_weak_train=2000, n_strong_train=300, n_test_per_level=20)
    run = build_demo_splits(seed=3, n_weak_train=50, n_strong_train=1500, n_test_per_level=8)
    seen = _hashes(teacher["weak_train"])
    assert not seen & (_hashes(run["strong_train"]) | _hashes(run["test"]))
    assert not _hashes(run["weak_train"]) & (_hashes(teacher["strong_train"]) | _hashes(teacher["test"]))
