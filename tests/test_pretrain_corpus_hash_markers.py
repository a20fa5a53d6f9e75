"""Hash markers: drawn formats' answer markers may hold "#" ("#", "##", "###", runs of one character),
so a student can learn to copy hash-like markers from the problems before it; the target's "####"
and its step lines still never appear, and unset, every corpus and key is as before."""
from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from w2s_ray.data.pretrain_corpus import TARGET_STEP_LINE, CorpusSpec, build_corpus, leaks, worksheet
from w2s_ray.data.solution_formats import draw_format, draw_marker
from w2s_ray.data.world import FINAL_MARK, Step
from w2s_ray.models.built_in import built_in
from w2s_ray.models.pretrain import tokenize_examples
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, STYLES, corpus_hash, recipe_record
from w2s_ray.models.word_tokenizer import build_world_tokenizer

SPEC = CorpusSpec(n_problems=400, styles=STYLES, worksheets=1.0, worksheet_formats=1.0, hash_markers=True, seed=11)
CHAINS = ([Step(3, "+", 4, 7)], [Step(12, "*", 2, 24), Step(24, "/", 3, 8), Step(8, "-", 1, 7)])


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(SPEC, [])


def longest_hash_run(solution: str) -> str:
    return max(re.findall(r"#+", solution), key=len, default="")


def test_hash_markers_of_every_length_below_the_targets_appear_and_hold_for_a_whole_worksheet(corpus):
    runs = Counter(longest_hash_run(sheet[1]) for sheet in corpus)
    assert runs["#"] and runs["##"] and runs["###"]
    assert sum(n for run, n in runs.items() if run) > 0.1 * len(corpus)  # common enough to be learnt
    for sheet in corpus:  # one marker throughout: the later problems' is the earlier ones'
        assert len({longest_hash_run(solution) for solution in sheet[1::2]}) == 1
    # Runs of one other character 4 long ("!!!!"): copying a marker means counting its repeats too.
    assert any(re.search(r"([^\w\s#])\1\1\1", sheet[1]) for sheet in corpus)


def test_a_drawn_hash_marker_never_yields_the_targets_marker_or_step_lines(corpus):
    assert leaks(corpus, []) == []
    text = "\n".join("".join(e) for e in corpus)
    assert FINAL_MARK not in text and not TARGET_STEP_LINE.search(text)
    # The marker draw itself does give "####" now and then: draw_format is what refuses it.
    rng = random.Random(0)
    assert FINAL_MARK in {draw_marker(rng, hash_markers=True) for _ in range(3000)}
    rng = random.Random(0)
    for _ in range(5000):
        fmt = draw_format(rng, hash_markers=True)
        for chain in CHAINS:
            rendered = fmt.render(chain[0].left, chain, "Ada")
            assert FINAL_MARK not in rendered and not TARGET_STEP_LINE.search(rendered), (fmt, rendered)


def test_the_leak_check_still_refuses_the_targets_marker_and_step_lines_beside_hash_markers(corpus):
    sheet = next(s for s in corpus if "###" in s[1])
    assert leaks([sheet], []) == []
    # One "#" more is the target's marker; a step a line in "a op b = c" is its step line.
    assert leaks([tuple(part.replace("###", FINAL_MARK) for part in sheet)], [])
    assert leaks([sheet[:2] + ("Q: x\nA:", " Then:\n3 + 4 = 7\n### 7")], [])


def test_hash_marker_worksheets_use_only_the_world_vocabulary_and_fit_the_students_rows(corpus):
    tokenizer = build_world_tokenizer()
    assert all(tokenizer.unk_token_id not in ids for ids, _ in tokenize_examples(tokenizer, corpus))
    recipe = DEFAULT_STUDENTS["world-student-markers"]
    longest = CorpusSpec(n_problems=200, levels=(max(recipe.levels),), styles=STYLES, worksheets=1.0,
                         worksheet_formats=1.0, hash_markers=True,
                         worksheet_problems=(recipe.worksheet_problems[1],) * 2, seed=5)
    assert max(len(ids) for ids, _ in tokenize_examples(tokenizer, build_corpus(longest, []))) <= recipe.seq_len


def test_unset_hash_markers_leave_every_corpus_and_recorded_recipe_as_before():
    # The format corpus of tests/test_pretrain_corpus_formats.py, hashed on main before hash markers.
    spec = CorpusSpec(n_problems=400, styles=STYLES, worksheets=1.0, worksheet_formats=1.0, seed=11)
    assert corpus_hash(build_corpus(spec, [])).startswith("b19c10c42b19a03d")
    assert worksheet(random.Random(4), spec) == worksheet(random.Random(4), CorpusSpec(
        styles=STYLES, worksheets=1.0, worksheet_formats=1.0, seed=11, hash_markers=False))
    for name, recipe in DEFAULT_STUDENTS.items():
        if not recipe.worksheet_hash_markers:
            assert "worksheet_hash_markers" not in recipe_record(recipe), name
    assert built_in("world-student-formats").recipe_sha256() == "24a2f0a78cc761cd"
    markers = DEFAULT_STUDENTS["world-student-markers"]
    assert recipe_record(markers)["worksheet_hash_markers"] is True
    # It differs from world-student-formats in the two changes alone.
    assert markers.model_copy(update={"name": "world-student-formats", "worksheet_formats": 1.0,
                                      "worksheet_hash_markers": False}) == DEFAULT_STUDENTS["world-student-formats"]
