"""The strong student's pretraining corpus: related to the target, never leaking it."""
from __future__ import annotations

import random
import re

import pytest

from w2s_ray.data import pretrain_corpus
from w2s_ray.data.pretrain_corpus import OP_WORDS, CorpusSpec, alt_problem, build_corpus, leaks
from w2s_ray.data.schema import content_hash
from w2s_ray.data.splits import build_demo_splits
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, student_corpus
from w2s_ray.models.word_tokenizer import build_world_tokenizer

PROSE_STEP = re.compile(r"(\d+) (plus|minus|times|divided by) (\d+) is (\d+)\.")
WORDS = {w: op for op, w in OP_WORDS.items()}


@pytest.fixture(scope="module")
def default_corpus():
    return student_corpus(DEFAULT_STUDENTS["world-student"])


@pytest.fixture(scope="module")
def splits():
    recipe = DEFAULT_STUDENTS["world-student"]
    return build_demo_splits(recipe.world_seed, recipe.split_weak_train, recipe.split_strong_train,
                             recipe.split_test_per_level)


def test_prose_solutions_are_right_and_state_their_answer():
    rng = random.Random(3)
    for level in (1, 3, 6):
        question, solution = alt_problem(rng, level)
        steps = PROSE_STEP.findall(solution)
        assert len(steps) == level, solution
        running = int(re.search(r"\d+", question).group(0))  # the start value
        # The opening names the start: the anchor that keeps the student solving, not re-asking.
        assert re.match(rf"[A-Z][a-z]+ started with {running}\. ", solution), solution
        for left, word, right, result in steps:
            assert int(left) == running
            a, b = int(left), int(right)
            running = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[WORDS[word]]
            assert running == int(result)
        assert solution.endswith(f"So the answer is {running}.")


def test_default_corpus_never_holds_the_target_format_or_a_held_out_solution(default_corpus, splits):
    assert leaks(default_corpus, [*splits["strong_train"], *splits["test"]]) == []
    text = "\n".join("".join(example) for example in default_corpus)
    assert "####" not in text and not re.search(r"^\d+ [-+*/] \d+ = \d+$", text, re.MULTILINE)
    # By content hash: no test question appears at all; a strong-half question only unlabelled.
    hashes = {content_hash(q.split(" ", 1)[1]): example for example in default_corpus
              for q in ["".join(example).split("\n", 1)[0]] if " " in q}
    assert not hashes.keys() & {content_hash(p.question) for p in splits["test"]}
    strong = [hashes[h] for h in hashes.keys() & {content_hash(p.question) for p in splits["strong_train"]}]
    assert strong and all(context == "" and "answer" not in text for context, text in strong)


def test_default_corpus_shows_the_train_questions_unlabelled_and_solves_other_wordings(default_corpus, splits):
    unlabelled = {text for context, text in default_corpus if not context}
    assert all(f"Question: {p.question}" in unlabelled for p in splits["weak_train"][:50])
    solved = [text for context, text in default_corpus if context]
    assert len(solved) > 30000 and all("So the answer is" in t for t in solved[:1000])
    # The target's own names and items never appear in solved problems; its templates do, beside others.
    questions = [context for context, _ in default_corpus if context]
    assert not any(" Mia " in q or " apples" in q for q in questions)
    assert any(" buys " in q for q in questions) and any(" bought " in q for q in questions)


def test_a_planted_leak_is_found(splits):
    held = splits["strong_train"][0]
    clean = build_corpus(CorpusSpec(n_problems=20, seed=1), [])
    assert leaks(clean, [held]) == []
    planted = clean + [(f"Question: {held.question}\nAnswer:", f" So the answer is {held.gold}.")]
    assert any(held.id in why for why in leaks(planted, [held]))
    assert any("target solution format" in why for why in leaks(clean + [("Q: x\nA:", " 3 + 4 = 7\n#### 7")], [held]))


def test_every_corpus_word_is_in_the_shared_tokenizer(default_corpus):
    tokenizer = build_world_tokenizer()
    ids = tokenizer("\n\n".join("".join(example) for example in default_corpus[:3000]))["input_ids"]
    assert tokenizer.unk_token_id not in ids


def test_corpus_is_the_same_for_a_seed():
    spec = CorpusSpec(n_problems=50, seed=4)
    assert build_corpus(spec, []) == build_corpus(spec, [])
    assert build_corpus(spec, []) != build_corpus(CorpusSpec(n_problems=50, seed=5), [])
    assert pretrain_corpus.vocabulary_texts()


SYMBOL_STEP = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)\.")


@pytest.mark.parametrize("style", sorted(pretrain_corpus.SOLUTION_STYLES))
def test_every_solution_style_is_right_and_never_the_target_format(style):
    in_symbols, opened, separator = pretrain_corpus.SOLUTION_STYLES[style]
    rng = random.Random(5)
    for level in (1, 4, 6):
        question, solution = alt_problem(rng, level, styles=(style,))
        start = int(re.search(r"\d+", question).group(0))
        steps = SYMBOL_STEP.findall(solution) if in_symbols else \
            [(a, {w: o for o, w in OP_WORDS.items()}[w], b, c) for a, w, b, c in PROSE_STEP.findall(solution)]
        assert len(steps) == level, solution
        running = start
        for left, op, right, result in steps:
            assert int(left) == running
            running = {"+": running + int(right), "-": running - int(right), "*": running * int(right),
                       "/": running // int(right)}[op]
            assert running == int(result)
        assert solution.endswith(f"So the answer is {running}.")
        assert solution.startswith(f"{solution.split(' ')[0]} started with {start}.") == opened
        assert ("\n" in solution) == (separator == "\n")
        assert not leaks([("Q: x\nA:", " " + solution)], [])


def test_styles_mix_every_target_feature_but_never_all_of_them_together():
    corpus = build_corpus(CorpusSpec(n_problems=400, styles=tuple(pretrain_corpus.SOLUTION_STYLES), seed=2), [])
    solutions = [text for context, text in corpus if context]
    assert any(" = " in s and "started with" not in s for s in solutions)  # symbols without an opening
    assert any("\n" in s and "started with" not in s for s in solutions)  # a step a line, no opening
    assert not any("\n" in s and " = " in s for s in solutions)  # symbols a line each: the target's
    assert leaks(corpus, []) == []


def test_a_corpus_without_styles_is_drawn_as_before_styles_existed():
    # The built-in student's cache key holds its corpus hash: adding styles must not change it.
    assert build_corpus(CorpusSpec(n_problems=50, seed=4), []) == build_corpus(
        CorpusSpec(n_problems=50, seed=4, styles=()), [])
    _, solution = alt_problem(random.Random(1), 3, symbols=1.0)
    assert " started with " in solution and " = " in solution


def test_target_entities_put_the_targets_names_in_solved_problems_without_leaking_held_out_ones(splits):
    from w2s_ray.data import world

    held = [p for p in splits["strong_train"] if p.level == 1]
    # Every solved problem in the target's names, items and sentences: one-step ones that word a
    # held-out question exactly are drawn often, and must be drawn again, not kept.
    spec = CorpusSpec(n_problems=3000, levels=(1,), target_wording=1.0, target_entities=1.0, seed=3)
    corpus = build_corpus(spec, [], held)
    questions = [context.split("\n", 1)[0].split(" ", 1)[1] for context, _ in corpus]
    assert len(corpus) == 3000 and not set(questions) & {p.question for p in held}
    assert leaks(corpus, held) == []
    assert all(q.split(" ", 1)[0] in world.NAMES for q in questions)
    without_exclusion = build_corpus(spec, [])
    assert {c.split("\n", 1)[0].split(" ", 1)[1] for c, _ in without_exclusion} & {p.question for p in held}
    # Unset, the field draws nothing: the corpora of students that leave it unset (their cache keys) do not
    # depend on it.
    assert build_corpus(CorpusSpec(n_problems=50, seed=4), []) == \
        build_corpus(CorpusSpec(n_problems=50, seed=4, target_entities=0.0), [], held)
    mixed = build_corpus(CorpusSpec(n_problems=400, seed=4, target_entities=0.5), [])
    firsts = [c.split(" ", 2)[1] for c, _ in mixed]
    assert any(n in world.NAMES for n in firsts) and any(n in pretrain_corpus.ALT_NAMES for n in firsts)
