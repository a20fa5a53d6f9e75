"""The recipes' selections and report numbers computed piece by piece, as Ray Data computes them,
equal the list functions on the whole input: easy-to-hard's step labels (per batch), reranking (per
problem), the step AUROC (per batch, then a sorted pass) and LightReasoner's KL steps (per batch, beta
from the quantile over all steps) and rejection-sampling rows (per batch). Here without Ray; through
Ray in tests/test_recipe_data_ray.py."""
from __future__ import annotations

import functools
import math
import random

import numpy as np
import pytest

from w2s_ray.eval.auroc import auroc, auroc_sorted
from w2s_ray.recipes.easy_to_hard.data import (auroc_pairs, picks_by_method, rerank_group, step_auroc,
                                               step_labels)
from w2s_ray.recipes.easy_to_hard.report import rerank_report, rerank_report_from_picks
from w2s_ray.recipes.light_reasoner.data import higher_quantile_index
from w2s_ray.recipes.light_reasoner.select import (kl_quantile_beta, rejection_sampling_sft, select_steps,
                                                   step_kls)
from w2s_ray.score import score_rows
from w2s_ray.select.grouped import CanonicalHash, account, add_accounts, row_json, summarize

TEXTS = ["16 + 11 = 27\n27 + 3 = 30\n#### 30", "16 + 11 = 28\n28 + 3 = 31\n#### 31", "I think so\n#### 31",
         "", "16 + 11 = 27\nso it is 30\n#### 30", "16 + 11 = 27\n27 + 3 = 30\n#### 29", "16 + 14 = 30\n#### 30"]


def samples(seed, problems=12, n=5, gold="30"):
    """N scored samples of each problem (levels 1-5, some without gold), with PRM step scores (ties,
    NaN, some solutions unscored) and a prm_min aggregate."""
    rng = random.Random(seed)
    rows = []
    for p in range(problems):
        level = rng.choice([1, 2, 3, 4, 5, None])
        for i in range(n):
            text = rng.choice(TEXTS)
            rows.append({"problem_id": f"p{p:02d}", "model": "policy", "sample_index": i, "question": "Ruby has 16.",
                         "text": text, "answer": text.rsplit("#### ", 1)[-1] if text else "",
                         "gold": gold if rng.random() < 0.9 else None, "level": level})
    rows = score_rows(rows, ["answer_check", "step_check"])
    for row in rows:
        steps = len(row["text"].splitlines())
        row["step_scores"] = None if rng.random() < 0.1 else [
            float("nan") if rng.random() < 0.05 else round(rng.random(), 1) for _ in range(steps)]
        row["prm_min"] = None if row["step_scores"] is None else min(row["step_scores"], default=float("nan"))
    return rows


def in_batches(kind, rows, piece, order, size=7, extra=None):
    """What a map in Ray Data does: the piece on each batch, accounts added up, the rows sorted by
    `order` and hashed one at a time."""
    out, accounts = [], []
    for start in range(0, len(rows), size):
        batch = rows[start:start + size]
        selection = piece(batch)
        accounts.append(account(selection, batch))
        out.extend(selection.rows)
    out.sort(key=lambda r: tuple(r[c] for c in order))
    digest = CanonicalHash()
    for row in out:
        digest.update(row_json(row))
    return out, summarize(kind, add_accounts(accounts), len(out), digest.hexdigest(), extra)


@pytest.mark.parametrize("source,with_answer,seed", [("gold", False, 0), ("gold", True, 1),
                                                     ("step_check", False, 2), ("step_check", True, 3)])
def test_step_labels_in_batches_equal_the_whole(source, with_answer, seed):
    rows = samples(seed)
    whole = step_labels(rows, source, "line", with_answer)
    piece = functools.partial(step_labels, source=source, step_sep="line", with_answer=with_answer)
    out, summary = in_batches("step_labels", rows, piece, ("problem_id", "source_model", "sample_index"))
    assert whole.kept and whole.dropped and out == whole.rows and summary.stats() == whole.stats()


@pytest.mark.parametrize("aggregate,seed", [("prm_min", 0), ("prm_min", 1), ("prm_last", 2)])
def test_reranking_per_problem_equals_the_report(aggregate, seed):
    rows = samples(seed, problems=20)
    for row in rows:
        row["prm_last"] = row["prm_min"]
    random.Random(seed).shuffle(rows)  # a group's rows come in any order
    greedy = {"easy_sft": {"acc": 0.5, "acc_by_level": {1: 0.5, 4: 0.25}, "n_by_level": {1: 4, 4: 4}}}
    whole = rerank_report(sorted(rows, key=lambda r: (r["problem_id"], r["sample_index"])), greedy, aggregate, [4, 5])
    groups = {}
    for row in rows:
        groups.setdefault((row["problem_id"], row["model"]), []).append(row)
    pieces = [out for key in random.Random(seed).sample(sorted(groups), len(groups))
              for out in rerank_group(groups[key], aggregate)]
    picks, n_samples, n_unscored = picks_by_method(pieces)
    assert rerank_report_from_picks(picks, n_samples, n_unscored, greedy, aggregate, [4, 5]) == whole
    assert whole["n_unscored_samples"] and whole["n_picks"] == 3 * 20


@pytest.mark.parametrize("source,seed", [("gold", 0), ("step_check", 1)])
def test_the_step_auroc_in_batches_equals_the_whole(source, seed):
    rows = samples(seed, problems=30)
    levels = [1, 2]
    labels = step_labels([r for r in rows if r["level"] in levels], source, "line", True).rows
    whole = step_auroc(rows, labels)
    xs, ys, solutions = [], [], 0
    for start in range(0, len(rows), 9):
        bx, by, n = auroc_pairs(rows[start:start + 9], levels, source, "line", True)
        xs, ys, solutions = xs + bx, ys + by, solutions + n
    pairs = sorted((x, y) for x, y in zip(xs, ys) if not math.isnan(x))
    chunks = [([x for x, _ in pairs[i:i + 5]], [y for _, y in pairs[i:i + 5]]) for i in range(0, len(pairs), 5)]
    assert whole["auroc"] is not None and whole["n_steps"] > len(pairs)  # NaN scores counted, not ranked
    assert {"auroc": auroc_sorted(chunks), "n_steps": len(xs), "n_negative": ys.count(0),
            "n_solutions": solutions} == whole


@pytest.mark.parametrize("seed", range(5))
def test_the_sorted_pass_is_auroc_bit_for_bit(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 300)
    scores = [round(rng.random(), rng.choice([1, 2, 6])) for _ in range(n)]  # many ties, some across chunks
    labels = [rng.randint(0, 1) for _ in range(n)]
    pairs = sorted(zip(scores, labels))
    size = rng.randint(1, 9)
    chunks = [([s for s, _ in pairs[i:i + size]], [y for _, y in pairs[i:i + size]]) for i in range(0, n, size)]
    assert auroc_sorted(chunks) == auroc(scores, labels)
    assert auroc_sorted([([0.1, 0.2], [1, 1])]) is None and auroc_sorted([]) is None


def test_the_quantile_index_is_numpys():
    rng = np.random.default_rng(0)
    for n in [1, 2, 3, 7, 10, 99, 1000, 12345]:
        values = np.sort(rng.random(n))
        for q in [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.7, 0.75, 0.9, 0.99, 1.0, 1.0 - 0.3, 1.0 - 0.05]:
            assert values[higher_quantile_index(n, q)] == np.quantile(values, q, method="higher")


def contrast_rows(seed, solutions=25):
    rng = random.Random(seed)
    rows = []
    for s in range(solutions):
        n, n_prompt = rng.randint(0, 6), rng.randint(1, 4)
        masks = [[rng.randint(0, 50) for _ in range(rng.randint(1, 3))] for _ in range(n)]
        rows.append({"problem_id": f"p{s % 9}", "model": "expert", "sample_index": s // 9,
                     "contrast_prompt_len": n_prompt, "contrast_ids": list(range(100, 100 + n_prompt + n)),
                     "contrast_kl": [float("nan") if rng.random() < 0.1 else round(rng.random(), 2) for _ in range(n)],
                     "contrast_mask_ids": masks,
                     "contrast_logp_expert": [[math.log(rng.random() + 0.01) for _ in m] for m in masks],
                     "contrast_logp_amateur": [[math.log(rng.random() + 0.01) for _ in m] for m in masks]})
    return rows


@pytest.mark.parametrize("keep_fraction,first_step,epsilon,seed", [(None, 0, 0.0, 0), (None, 1, 0.01, 1),
                                                                  (0.3, 1, 0.0, 2), (0.75, 0, 0.01, 3)])
def test_kl_steps_in_batches_equal_the_whole(keep_fraction, first_step, epsilon, seed):
    rows = contrast_rows(seed)
    whole = select_steps(rows, 0.2, keep_fraction, first_step, epsilon)
    beta = 0.2
    if keep_fraction is not None:  # over every step first, as the Ray path sorts them
        kls = sorted(step_kls(rows, first_step))
        beta = max(beta, kls[higher_quantile_index(len(kls), 1.0 - keep_fraction)])
        assert beta == max(0.2, kl_quantile_beta(rows, keep_fraction, first_step)) > 0.2
    piece = functools.partial(select_steps, beta=beta, keep_fraction=None, first_step=first_step, epsilon=epsilon)
    random.Random(seed).shuffle(rows)
    out, summary = in_batches("kl_steps", rows, piece, ("problem_id", "source_model", "sample_index", "step"),
                              extra={"beta": beta, "first_step": first_step})
    assert whole.kept and out == whole.rows and summary.stats() == whole.stats()
    assert list(summary.stats()) == list(whole.stats())  # the record's keys in the same order too


@pytest.mark.parametrize("sampled_prompt", [False, True])
def test_rejection_sampling_in_batches_equals_the_whole(sampled_prompt):
    rows = samples(4, problems=15)
    for row in rows:
        row.update(role="strong", prompt=f"<chat>{row['question']}</chat>")
    whole = rejection_sampling_sft(rows, sampled_prompt)
    piece = functools.partial(rejection_sampling_sft, sampled_prompt=sampled_prompt)
    out, summary = in_batches("rs_sft", rows, piece, ("problem_id", "source_model", "sample_index"))
    assert whole.kept and out == whole.rows and summary.stats() == whole.stats()


def scored_weak(seed, problems=20, n=4):
    """Weak solutions of two teachers with an RM's reward: ties (rounded scores), NaN and missing
    scores, empty texts, and solutions without a sample_index."""
    rng = random.Random(seed)
    rows = []
    for p in range(problems):
        for model in ("weak-a", "weak-b"):
            for i in range(n):
                reward = rng.choice([None, float("nan"), round(rng.random(), 1), round(rng.random(), 1)])
                rows.append({"problem_id": f"p{p:02d}", "model": model, "role": "weak", "question": f"Q{p}?",
                             "sample_index": None if (p, i) == (3, 0) else i, "answer": str(i), "level": 1 + p % 5,
                             "text": rng.choice(["", "  ", f"{p} + {i} = {p + i}\n#### {p + i}"]) if i == 3 else
                             f"{p} * {i} = {p * i}\n#### {p * i}", "reward": reward, "capability": "logic"})
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize("rule", [{"top_fraction": 0.3}, {"top_fraction": 1.0}, {"top_fraction": 0.01},
                                  {"threshold": 0.5}])
def test_the_reward_cut_in_batches_equals_top_by_reward(rule):
    """The multi-capability recipe's RM selection as a map (recipes/multi_capability/selections.py):
    the cut found over the whole input (the k-th rank key, as kth_row reads it from the sorted keys),
    then each batch kept on its own, equals top_by_reward on the whole."""
    from w2s_ray.select.rerank import reward_candidate, reward_cut, reward_rank, top_by_reward

    rows = scored_weak(7)
    whole = top_by_reward(rows, "reward", **rule)
    settings = {"threshold": rule["threshold"]} if "threshold" in rule else {
        "last_kept": sorted(reward_rank(r) for r in rows if reward_candidate(r))[
            math.ceil(rule["top_fraction"] * sum(map(reward_candidate, rows))) - 1]}
    out, summary = in_batches("reward_cut", rows, functools.partial(reward_cut, **settings),
                              ("problem_id", "source_model", "sample_index"))
    assert whole.kept and whole.dropped["empty_text_or_unscored"] and out == whole.rows
    assert summary.stats() == whole.stats()
    # Ties at the cut are split by problem, model and sample, not by the batches.
    scores = sorted((r["reward"] for r in rows if reward_candidate(r)), reverse=True)
    assert "threshold" in rule or len(scores) < 2 or whole.kept == math.ceil(rule["top_fraction"] * len(scores))


def test_own_outputs_in_batches_equal_the_whole():
    from w2s_ray.recipes.multi_capability.metrics import own_outputs

    rows = [{**r, "role": "strong", "model": "student"} for r in scored_weak(8) if r["model"] == "weak-a"]
    whole = own_outputs(rows)
    out, summary = in_batches("own_outputs", rows, own_outputs, ("problem_id", "source_model", "sample_index"))
    assert whole.kept and whole.dropped and out == whole.rows and summary.stats() == whole.stats()
