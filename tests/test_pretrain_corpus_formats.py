"""Format worksheets: each worksheet in a solution format drawn for it (data/solution_formats.py), one
format throughout the document and another in the next, never the target's format; unset, every
corpus and key is as before."""
from __future__ import annotations

import random
import re

import pytest

from w2s_ray.data.pretrain_corpus import ALT_NAMES, TARGET_STEP_LINE, CorpusSpec, build_corpus, leaks, worksheet
from w2s_ray.data.solution_formats import draw_format
from w2s_ray.data.splits import build_demo_splits
from w2s_ray.data.world import Step
from w2s_ray.models.built_in import built_in
from w2s_ray.models.pretrain import tokenize_examples
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, STYLES, corpus_hash, recipe_record
from w2s_ray.models.word_tokenizer import build_world_tokenizer
from w2s_ray.text.prompts import SHOT_SEPARATOR

SPEC = CorpusSpec(n_problems=400, styles=STYLES, worksheets=1.0, worksheet_formats=1.0, seed=11)
NUMBER = re.compile(r"\d+")
OPERATOR = re.compile(r"(?<= )(?:[-+*/]|plus|minus|times|divided by)(?= )")
NAME = re.compile(r"\b(?:" + "|".join(ALT_NAMES) + r")\b")


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(SPEC, [])


def skeleton(solution: str) -> frozenset[str]:
    """What a solution's format leaves once its numbers, operators and name are taken out: the same
    for every problem written in one format, whatever its chain and length."""
    text = NUMBER.sub("N", OPERATOR.sub("O", NAME.sub("X", solution.removesuffix(SHOT_SEPARATOR))))
    return frozenset(text.split()) | ({"<newline>"} if "\n" in text else set())


def test_a_format_holds_for_a_whole_worksheet_and_changes_between_worksheets(corpus):
    sheets = [e for e in corpus if len(e) > 2]
    assert len(sheets) == len(corpus) == SPEC.n_problems
    per_sheet = [{skeleton(s) for s in sheet[1::2]} for sheet in sheets]
    assert all(len(formats) == 1 for formats in per_sheet)
    # Formats rarely repeat: a student cannot learn a few by heart, it has to read the page.
    assert len({next(iter(formats)) for formats in per_sheet}) > 0.8 * len(sheets)
    # A corpus-style worksheet (formats unset) has its style's skeleton, one of a handful.
    styled = build_corpus(CorpusSpec(n_problems=200, styles=STYLES, worksheets=1.0, seed=11), [])
    assert len({skeleton(s) for sheet in styled for s in sheet[1::2]}) < 20


def test_format_worksheets_never_hold_the_target_format(corpus):
    assert leaks(corpus, []) == []
    text = "\n".join("".join(e) for e in corpus)
    assert "#" not in text and not TARGET_STEP_LINE.search(text)
    # Every draw, for one-step and longer chains alike (a one-step solution is where "a op b = c"
    # could stand alone on a line).
    rng = random.Random(0)
    chains = ([Step(3, "+", 4, 7)], [Step(12, "*", 2, 24), Step(24, "/", 3, 8), Step(8, "-", 1, 7)])
    for _ in range(3000):
        fmt = draw_format(rng)
        for chain in chains:
            rendered = fmt.render(chain[0].left, chain, "Ada")
            assert "#" not in rendered and not TARGET_STEP_LINE.search(rendered), (fmt, rendered)


def test_format_worksheets_use_only_the_world_vocabulary_and_fit_the_students_rows(corpus):
    tokenizer = build_world_tokenizer()
    assert all(tokenizer.unk_token_id not in ids for ids, _ in tokenize_examples(tokenizer, corpus))
    recipe = DEFAULT_STUDENTS["world-student-formats"]
    longest = CorpusSpec(n_problems=200, levels=(max(recipe.levels),), styles=STYLES, worksheets=1.0,
                         worksheet_formats=1.0, worksheet_problems=(recipe.worksheet_problems[1],) * 2, seed=5)
    assert max(len(ids) for ids, _ in tokenize_examples(tokenizer, build_corpus(longest, []))) <= recipe.seq_len


def test_a_held_out_question_is_never_drawn_and_found_whatever_the_answers_form():
    splits = build_demo_splits(0, 400, 50, 5)
    held = [*splits["strong_train"], *splits["test"]]
    spec = CorpusSpec(n_problems=600, levels=(1,), target_wording=1.0, target_entities=1.0, worksheets=1.0,
                      worksheet_formats=1.0, seed=3)
    drawn = build_corpus(spec, [], held)
    assert leaks(drawn, held) == []
    asked = {c.split("\n")[0].split(" ", 1)[1] for e in drawn for c in e[::2]}
    assert not asked & {p.question for p in held}
    # Planted in a format worksheet, answered with a marker rather than the answer sentence.
    problem = held[0]
    sheet = worksheet(random.Random(2), CorpusSpec(styles=STYLES, worksheet_formats=1.0, worksheet_problems=(2, 2)))
    ask, answer = sheet[2].split(" ", 1)[0], sheet[2].rsplit("\n", 1)[1]
    planted = sheet[:2] + (f"{ask} {problem.question}\n{answer}", f" %% {problem.gold}")
    assert leaks([sheet], held) == []
    assert any(problem.id in why for why in leaks([planted], held))
    # A held-out question shown without a solution, as the unlabelled ones are, is not a leak.
    assert leaks([("", f"Question: {problem.question}")], held) == []


def test_unset_formats_leave_every_corpus_and_recorded_recipe_as_before():
    # The worksheet corpus of tests/test_pretrain_corpus_worksheets.py, hashed on main before formats.
    spec = CorpusSpec(n_problems=600, styles=STYLES, worksheets=0.5, seed=7)
    assert corpus_hash(build_corpus(spec, [])).startswith("c9e4a37f34a8d986")
    for name, recipe in DEFAULT_STUDENTS.items():
        if not recipe.worksheet_formats:
            assert "worksheet_formats" not in recipe_record(recipe), name
    assert built_in("world-student-worksheets").recipe_sha256() == "d446535b8a856b50"
    formats = DEFAULT_STUDENTS["world-student-formats"]
    assert recipe_record(formats)["worksheet_formats"] == 1.0
    # The two students differ in the formats alone.
    assert formats.model_copy(update={"name": "world-student-worksheets", "worksheet_formats": 0.0}) \
        == DEFAULT_STUDENTS["world-student-worksheets"]
