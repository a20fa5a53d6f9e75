"""Differential tests against the authors' code of Weak-to-Strong Reasoning (Yang et al. 2024):
GAIR-NLP/weak-to-strong-reasoning at commit 596a0b61166a91e9677e1940ae06ec4f84878cae.

Their functions are re-implemented line by line below (never vendored), on in-memory lists instead
of their JSON files, and fed the same synthetic inputs as ours. Stage I's filter and Stage II's
pair rule (GSM8K and MATH) must agree. Where the authors draw with one global random.seed(42)
sequence and ours seeds per (teacher, problem), the drawn sample is compared as membership of the
authors' candidate list, and the count and the deterministic sides exactly.
"""
from __future__ import annotations

import random
from collections import Counter

import pytest

from w2s_ray.recipes.w2s_reasoning.demos import draw_fixed
from w2s_ray.select import build_preference_pairs, consistency_filter

ANSWERS = ["", "1", "2", "3", "4"]


# --- the authors' functions, re-implemented --------------------------------------------------

def _gair_weak_icl(weak_data, icl_data):
    """src/construct_training_data.py lines 36-63 (construct_weak_icl_data), without the file IO."""
    assert len(weak_data) == len(icl_data)
    new_data = []
    for weak_instance, icl_instance in zip(weak_data, icl_data):
        assert weak_instance['id'] == icl_instance['id']
        if weak_instance['pred'] != '' and weak_instance['pred'] == icl_instance['pred']:
            new_data.append({'id': weak_instance['id'], 'output': weak_instance['response']})
            new_data.append({'id': weak_instance['id'], 'output': icl_instance['response']})
    return new_data


def _gair_majority(seed_runs):
    """src/construct_training_data.py lines 92-112 (construct_majority_voting_data)."""
    new_data = []
    for instances in zip(*seed_runs):
        new_instance = {'id': instances[0]['id'], 'pos_responses': [], 'neg_responses': [], 'confidence': 0}
        preds = [ins['pred'] for ins in instances]
        counts = Counter(preds)
        most_common_pred, most_common_num = counts.most_common(1)[0]
        new_instance['confidence'] = most_common_num / len(instances)
        for ins in instances:
            side = 'pos_responses' if ins['pred'] == most_common_pred else 'neg_responses'
            new_instance[side].append({'response': ins['response'], 'pred': ins['pred']})
        new_data.append(new_instance)
    return new_data


def _gair_pairs(weak_data, mv_data, math: bool, confidence=0.8):
    """Lines 129-175 (construct_paired_data_gsm8k) and, math=True, lines 192-261
    (construct_paired_data_math): [(id, chosen, rejected, candidates of the drawn side)]."""
    random.seed(42)
    new_data = []
    for weak_instance, mv in zip(weak_data, mv_data):
        assert weak_instance['id'] == mv['id']
        if mv['confidence'] < 0.6:
            continue
        if mv['pos_responses'][0]['pred'] == '':
            continue
        if weak_instance['pred'] == mv['pos_responses'][0]['pred']:
            if len(mv['neg_responses']) == 0:
                continue
            negs = [r['response'] for r in mv['neg_responses']]
            if not math:
                picked = [random.sample(mv['neg_responses'], 1)[0]]
            elif len(mv['neg_responses']) > 3:
                picked = random.sample(mv['neg_responses'], 3)
            else:
                picked = mv['neg_responses']
            for negative_instance in picked:
                new_data.append((weak_instance['id'], weak_instance['response'], negative_instance['response'], negs))
        elif mv['confidence'] >= confidence:
            poss = [r['response'] for r in mv['pos_responses']]
            positive_response = random.sample(mv['pos_responses'], 1)[0]['response']
            new_data.append((weak_instance['id'], positive_response, weak_instance['response'], poss))
            if math:
                positive_num = 1
                for positive_instance in mv['pos_responses']:
                    if positive_instance['response'] != positive_response:
                        new_data.append((weak_instance['id'], positive_instance['response'],
                                         weak_instance['response'], poss))
                        positive_num += 1
                        if positive_num >= 3:
                            break
    return new_data


def _gair_demos(data, k=4):
    """src/prompt/demonstrations.py lines 464-477 (get_few_shot_prompts, the *_full_weak.json branch):
    shuffle under seed 42, keep the first k whose output holds the answer key."""
    random.seed(42)
    random.shuffle(data)
    demonstrations = []
    for d in data:
        if '####' in d['output']:
            demonstrations.append(d)
        if len(demonstrations) == k:
            break
    return demonstrations


# --- synthetic inputs -------------------------------------------------------------------------

def _gen(pid, model, role, answer, index=0, text=None):
    text = text if text is not None else f"{model} {index} on {pid}" + (f"\n#### {answer}" if answer else "")
    return {"problem_id": pid, "model": model, "role": role, "sample_index": index, "question": f"q {pid}?",
            "text": text, "answer": answer, "level": 1 + int(pid[1:]) % 5}


def _authors_row(row):
    return {"id": row["problem_id"], "pred": row["answer"], "response": " " + row["text"].strip()}


@pytest.mark.parametrize("seed", range(6))
def test_stage1_filter_keeps_what_the_authors_keep(seed):
    rng = random.Random(seed)
    pids = [f"p{i:03d}" for i in range(80)]
    weak = [_gen(p, "weak", "weak", rng.choice(ANSWERS)) for p in pids]
    strong = [_gen(p, "strong", "strong", rng.choice(ANSWERS)) for p in pids]
    theirs = _gair_weak_icl([_authors_row(r) for r in weak], [_authors_row(r) for r in strong])
    ours = consistency_filter(weak, strong).rows
    # The same rows; a Selection orders its rows itself, so the order is not compared.
    assert sorted((r["problem_id"], r["completion"]) for r in ours) == sorted((d["id"], d["output"]) for d in theirs)
    assert Counter(r["role"] for r in ours) == {"weak": len(theirs) // 2, "strong": len(theirs) // 2}
    assert len(theirs) > 10


def _stage2_inputs(rng, n_problems=60, n=10):
    weak, samples = [], []
    for i in range(n_problems):
        pid = f"p{i:03d}"
        top = rng.choice(ANSWERS[1:])
        weak.append(_gen(pid, "weak", "weak", rng.choice([top, top, *ANSWERS])))
        share = rng.choice([3, 6, 7, 8, 9, 10])  # the top answer's votes: under, at and over 0.6 and 0.8
        others = [rng.choice([a for a in ANSWERS if a != top]) for _ in range(n - share)]
        answers = [top] * share + others
        rng.shuffle(answers)
        for j, a in enumerate(answers):
            # Some majority samples share a text: the MATH rule's `!=` on texts must show.
            text = f"same text\n#### {a}" if a == top and j % 3 == 0 else None
            samples.append(_gen(pid, "student", "strong", a, j, text=text))
    return weak, samples


@pytest.mark.parametrize("math", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_stage2_pairs_follow_the_authors_gsm8k_and_math_rules(seed, math):
    rng = random.Random(seed)
    weak, samples = _stage2_inputs(rng)
    by_problem = {}
    for s in samples:
        by_problem.setdefault(s["problem_id"], []).append(_authors_row(s))
    pids = sorted(by_problem)
    runs = [[by_problem[p][j] for p in pids] for j in range(10)]  # their seed{j}/results.jsonl files
    theirs = _gair_pairs([_authors_row(w) for w in weak], _gair_majority(runs), math)
    ours = build_preference_pairs(samples, weak, min_confidence=0.6, flip_confidence=0.8, seed=seed,
                                  max_pairs=3 if math else 1).rows
    assert Counter(r["problem_id"] for r in ours) == Counter(t[0] for t in theirs)  # same questions, same counts
    ours = sorted(ours, key=lambda r: r["problem_id"])  # stable: each question's pairs in our draw order
    assert len(theirs) > 20
    for pair, (pid, chosen, rejected, candidates) in zip(ours, theirs):
        if pair["case"] == "weak_agrees":
            assert pair["chosen"] == chosen and pair["rejected"] in candidates
        else:
            assert pair["rejected"] == rejected and pair["chosen"] in candidates
    if math:  # the deterministic parts of the MATH rule
        assert len(theirs) > len({t[0] for t in theirs})  # several pairs for some questions
        one = build_preference_pairs(samples, weak, min_confidence=0.6, flip_confidence=0.8, seed=seed).rows
        assert len(one) < len(theirs)  # one pair per question (their GSM8K rule) is not their MATH rule
        for pid in {t[0] for t in theirs}:
            mine = [p for p in ours if p["problem_id"] == pid]
            their = [t for t in theirs if t[0] == pid]
            if len(their) < 3:  # every minority sample, or every majority sample of another text
                assert sorted((p["chosen"], p["rejected"]) for p in mine) == sorted((c, r) for _, c, r, _ in their)
            if mine[0]["case"] == "majority_overrules":  # lines 244-261: after the draw, in order, other texts
                first, candidates = mine[0]["chosen"], their[0][3]
                assert [p["chosen"] for p in mine] == [first, *[c for c in candidates if c != first]][:3]


def test_fixed_demos_are_the_authors_draw():
    rng = random.Random(3)
    pool = [{"id": f"p{i:03d}", "question": f"q{i}", "solution": f"s{i}", "answer": rng.choice(ANSWERS)}
            for i in range(50)]
    theirs = _gair_demos([{"id": d["id"], "output": d["solution"] + (f"\n#### {d['answer']}" if d["answer"] else "")}
                          for d in pool])
    assert [d["id"] for d in draw_fixed(pool, 4, 42)] == [d["id"] for d in theirs]
    assert [d["id"] for d in draw_fixed(pool, 4, 7)] != [d["id"] for d in theirs]  # the seed is what decides
    with pytest.raises(ValueError, match="state an answer"):
        draw_fixed([{**d, "answer": ""} for d in pool], 4, 42)
