"""easy_to_hard against the authors' code, re-implemented line by line below (never vendored):

  Edward-Sun/easy-to-hard @ cf1d6d8ab3ae9e2e9a87ce957141c9d0849f163a (Sun et al. 2024)
    data_utils/data_utils_rm_pointwise.py L225-251  which tokens of a step carry its label
    math_utils/math_rl_utils.py L405-432            min / prod aggregation of step scores
  openreasoner/openr @ 54ae004c69623ebb9a97b22211d6b236033a710d (their published PRM evaluation; the
  easy-to-hard repository has no best-of-N / weighted-vote code)
    reason/reranking/vote_utils.py L13-53           majority, best-of-N (max) and weighted vote
    reason/evaluation/evaluator.py L66-71           samples without an answer are left out
    data/omegaPRM_v2/omegaprm.py L354-356, L445-481 Monte Carlo value c/k and the binary search

Where ours differs on purpose, the test says so and asserts the rest agrees.
"""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import pytest

from w2s_ray.recipes.easy_to_hard.report import rerank_report
from w2s_ray.recipes.easy_to_hard.step_labels import (first_error, step_labels_from_checker,
                                                      step_labels_from_gold)
from w2s_ray.score.reward_models import aggregate
from w2s_ray.text.reward_format import process_rm_ids, process_rm_token_labels
from w2s_ray.text.steps import solution_steps


# -- which tokens carry a step's label -----------------------------------------------------------

def _authors_step_weights(source_length, step_token_lists, step_labels, train_on_every_token):
    """data_utils_rm_pointwise.py L225-251 (DataCollatorForPointwiseRewardModelingV2), one example,
    its begin padding already cut (L240), no total_max_len: (weight, label) per token."""
    weight, label = [], []
    weight = weight + [0 for _ in range(source_length)]
    label = label + [0 for _ in range(source_length)]
    for tokenized_target, step_label in zip(step_token_lists, step_labels):
        real_target_length = len(tokenized_target)
        if not train_on_every_token and real_target_length > 3:
            weight = weight + [0 for _ in range(real_target_length - 3)] + [1 for _ in range(3)]
        else:
            weight = weight + [1 for _ in range(real_target_length)]
        label = label + [step_label for _ in range(real_target_length)]
    return weight, label


class WordTokenizer:
    """A whitespace tokenizer that keeps the separators as tokens: enough to place step boundaries."""

    def __call__(self, text, add_special_tokens=True):
        import re

        ids = [2 + sum(map(ord, piece)) % 997 for piece in re.findall(r"\S+|\n", text)]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}


@pytest.mark.parametrize("steps,labels", [
    (["a = 1", "b = 1 + 1 = 2", "#### 2"], [1, 1, 1]),
    (["Ada has 3 apples and buys 4 more", "3 + 4 = 8"], [1, 0]),  # stops at the first error
    (["x"], [0]),  # a step shorter than the authors' three end tokens
])
def test_every_token_labels_match_the_authors_collator(steps, labels):
    tokenizer, prompt = WordTokenizer(), "Question: how many?\nAnswer:"
    ids, ends = process_rm_ids(tokenizer, prompt, steps)
    n_prompt = len(tokenizer(prompt)["input_ids"])
    pieces = [ids[start:end + 1] for start, end in zip([n_prompt, *(e + 1 for e in ends[:-1])], ends)]
    weight, label = _authors_step_weights(n_prompt, pieces, labels, train_on_every_token=True)
    ours = process_rm_token_labels(n_prompt, ends, labels, len(ids), "every_token")
    assert [label[i] if w else -100 for i, w in enumerate(weight)] == ours
    # Ours without every token: the step's last token only, one of the authors' last three.
    step_end = process_rm_token_labels(n_prompt, ends, labels, len(ids), "step_end")
    theirs = {i for i, w in enumerate(_authors_step_weights(n_prompt, pieces, labels, False)[0]) if w}
    assert {i for i, v in enumerate(step_end) if v != -100} == set(ends) <= theirs


# -- aggregation and reranking --------------------------------------------------------------------

def _authors_aggregate(scores, scheme, upper_bound=1.0):
    """math_rl_utils.py L405-432: the running min (or running product) below the upper bound; its
    last value is the solution's score (their sigmoid of the logit is our P(right))."""
    min_score = upper_bound
    if scheme == "min":
        for score in scores:
            if score < min_score:
                min_score = score
    elif scheme == "prod":
        prod_score = 1.0
        for score in scores:
            prod_score = prod_score * score
            if prod_score < min_score:
                min_score = prod_score
    return min_score


def _openr_majority(x_list, unused_v_list):  # vote_utils.py L13-16
    counts = Counter(x_list)
    return max(counts, key=counts.get)


def _openr_vote(x_list, v_list):  # vote_utils.py L19-26 (_agg_orm_vote)
    x_dict = defaultdict(lambda: 0.0)
    for x, v in zip(x_list, v_list):
        x_dict[x] += v
    return max(x_dict, key=x_dict.get)


def _openr_max(x_list, v_list):  # vote_utils.py L29-31 (_agg_orm_max)
    return x_list[v_list.index(max(v_list))]


def _openr_reduce(v_list, how):  # vote_utils.py L34-53: min(v) / v[-1], -1.0 for no step
    if how == "min":
        return [min(v) if v else -1.0 for v in v_list]
    if how == "last":
        return [v[-1] if v else -1.0 for v in v_list]
    return [_authors_aggregate(v, "prod") if v else -1.0 for v in v_list]  # prod: easy-to-hard's


def _openr_pick(samples, method, how, empty_vote=-1.0):
    """evaluator.py L66-71: samples without an answer are left out, then the aggregation."""
    valid = [s for s in samples if s["answer"]]
    if not valid:
        return ""
    x_list, v_list = [s["answer"] for s in valid], [s["step_scores"] for s in valid]
    if method == "majority":
        return _openr_majority(x_list, v_list)
    values = _openr_reduce(v_list, how)
    if method == "best_of_n":
        return _openr_max(x_list, values)
    return _openr_vote(x_list, [empty_vote if not v else x for v, x in zip(v_list, values)])


def synthetic_samples(seed, n_problems=300, n=8):
    """Step scores on a coarse grid (ties), some samples with no step, some without an answer."""
    rng = random.Random(seed)
    rows = []
    for p in range(n_problems):
        for i in range(n):
            k = rng.choice([0, 1, 2, 3, 4]) if rng.random() < 0.85 else 0
            scores = [rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, 0.99]) for _ in range(k)]
            answer = rng.choice(["", "7", "8", "9"]) if rng.random() < 0.1 else rng.choice(["7", "8", "9"])
            rows.append({"problem_id": f"p{p:03d}", "model": "policy", "sample_index": i, "level": 1 + p % 5,
                         "answer": answer, "correct": answer == "9", "step_scores": scores,
                         **{f"prm_{how}": aggregate(scores, how) for how in ("min", "prod", "last")}})
    return rows


def test_our_aggregates_are_the_authors_on_every_solution_with_a_step():
    rng = random.Random(0)
    for _ in range(2000):
        scores = [rng.random() for _ in range(rng.randint(1, 8))]
        for how in ("min", "prod"):
            assert aggregate(scores, how) == pytest.approx(_authors_aggregate(scores, how), rel=1e-12)
        assert aggregate(scores, "last") == scores[-1]  # openr's v[-1]


@pytest.mark.parametrize("how", ["min", "prod", "last"])
def test_rerank_report_picks_what_the_published_rerankers_pick(how):
    rows = synthetic_samples(seed={"min": 1, "prod": 2, "last": 3}[how])
    report = rerank_report(rows, {}, f"prm_{how}", [4, 5])
    picks = {(p["method"], p["problem_id"]): p["answer"] for p in report["picks"]}
    by_problem = defaultdict(list)
    for row in rows:
        by_problem[row["problem_id"]].append(row)
    differ = 0
    for pid, samples in by_problem.items():
        assert picks[("majority", pid)] == _openr_pick(samples, "majority", how)
        # A solution with no step: openr's -1.0, ours no score; both rank it below every scored one.
        assert picks[("best_of_n", pid)] == _openr_pick(samples, "best_of_n", how)
        # Weighted vote: openr adds -1.0 to the answer of a solution with no step, ours adds nothing
        # (no score is no vote). The same but for that.
        assert picks[("weighted", pid)] == _openr_pick(samples, "weighted", how, empty_vote=0.0)
        differ += picks[("weighted", pid)] != _openr_pick(samples, "weighted", how)
    assert differ > 0  # the synthetic set does reach that difference
    assert report["n_unscored_samples"] == sum(1 for r in rows if not r["step_scores"])


# -- OmegaPRM's Monte Carlo labels ---------------------------------------------------------------

def _openr_first_error(rollouts_correct):
    """omegaprm.py L445-481 (binary_search_incorrect_step) from the question (left 0, right n-1),
    MC(s) = c / k as at L354-356; `rollouts_correct[m]`: the k rollouts' outcomes from the prefix of
    m steps. The first incorrect step is the leftmost mid whose prefix had MC == 0."""
    found, probed = [], []

    def mc(m):
        probed.append(m)
        outcomes = rollouts_correct[m]
        return sum(outcomes) / len(outcomes) if outcomes else 0

    def search(left, right):
        if left > right:
            return
        mid = (left + right) // 2
        if mc(mid + 1) == 0:
            found.append(mid)
            search(left, mid - 1)
        else:
            search(mid + 1, right)

    search(0, len(rollouts_correct) - 2)
    return (min(found) if found else None), probed


def monotone_outcomes(rng, n_steps, k=8):
    """Rollout outcomes per prefix length 0..n_steps: some succeed before the first error, none after
    it (OmegaPRM's assumption), and the whole wrong solution has value 0."""
    error = rng.randrange(n_steps)
    out = []
    for m in range(n_steps + 1):
        if m <= error:
            hits = rng.randint(1, k)
            out.append([True] * hits + [False] * (k - hits))
        else:
            out.append([False] * k)
    return out, error


def test_first_error_is_openrs_binary_search_on_monotone_values():
    rng = random.Random(0)
    for _ in range(3000):
        n_steps = rng.randint(1, 12)
        outcomes, error = monotone_outcomes(rng, n_steps)
        theirs, probed = _openr_first_error(outcomes)
        ours_probed = []

        def value(m):
            ours_probed.append(m)
            return sum(outcomes[m]) / len(outcomes[m])

        assert first_error(n_steps, value) == theirs == error
        # Ours never rolls out from the whole (wrong) solution: its value is 0 by definition.
        assert n_steps not in ours_probed and len(ours_probed) <= max(1, math.ceil(math.log2(n_steps))) + 1


# -- the final-answer step (authors' default: labelled and scored) --------------------------------

def test_the_answer_step_is_labelled_after_the_steps_and_a_bare_answer_has_none():
    base = {"problem_id": "p", "model": "m", "sample_index": 0, "level": 1, "question": "q?", "has_gold": True,
            "n_checkable_steps": 2}
    right = {**base, "text": "a = 1\nb = 1 + 1 = 2\n#### 2", "correct": True, "wrong_steps": []}
    miscopied = {**base, "text": "a = 1\nb = 1 + 1 = 2\n#### 3", "correct": False, "wrong_steps": []}
    unseen = {**base, "text": "a = 1\nb = 1 + 2 = 3\n#### 3", "correct": False, "wrong_steps": []}
    located = {**base, "text": "a = 1\nb = 1 + 1 = 3\n#### 3", "correct": False, "wrong_steps": [1]}
    bare = {**base, "text": "#### 2", "correct": True, "wrong_steps": []}
    assert solution_steps(right["text"], with_answer=True) == ["a = 1", "b = 1 + 1 = 2", "#### 2"]
    assert solution_steps(bare["text"], with_answer=True) == [] and solution_steps(right["text"]) == ["a = 1",
                                                                                                      "b = 1 + 1 = 2"]
    gold = step_labels_from_gold([right, miscopied, unseen, located, bare], with_answer=True)
    assert [(r["steps"][-1], r["labels"]) for r in gold.rows] == [("#### 2", [1, 1, 1]), ("#### 3", [1, 1, 0]),
                                                                  ("b = 1 + 1 = 3", [1, 0])]
    assert gold.dropped == {"no_steps": 1, "wrong_answer_unlocated": 1}
    ours = step_labels_from_gold([right, miscopied, unseen, located, bare])  # prm_answer_step: false
    assert [r["labels"] for r in ours.rows] == [[1, 1], [1, 0]]
    checker = step_labels_from_checker([right, miscopied], with_answer=True)  # no gold read
    assert [r["labels"] for r in checker.rows] == [[1, 1, 1], [1, 1, 0]]
