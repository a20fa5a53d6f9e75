"""Worksheets in the strong student's pretraining corpus: several solved problems in one document, in
the corpus's frames and styles, never the target format; unset, every corpus and key is as before."""
from __future__ import annotations

import json
import random
import re

import pytest

from w2s_ray.data import pretrain_corpus
from w2s_ray.data.pretrain_corpus import FRAMES, CorpusSpec, build_corpus, leaks, questions_of, worksheet
from w2s_ray.data.splits import build_demo_splits
from w2s_ray.models import strong_student
from w2s_ray.models.pretrain import COMPLETION_ROLE, PROMPT_ROLE, tokenize_examples
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, STYLES, corpus_hash, recipe_record
from w2s_ray.models.word_tokenizer import build_world_tokenizer
from w2s_ray.text.prompts import SHOT_SEPARATOR

SPEC = CorpusSpec(n_problems=600, styles=STYLES, worksheets=0.5, seed=7)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(SPEC, [])


def test_a_worksheet_corpus_holds_multi_problem_documents_in_the_corpus_frames(corpus):
    sheets = [e for e in corpus if len(e) > 2]
    assert 0.35 < len(sheets) / len(corpus) < 0.65
    assert {len(e) // 2 for e in sheets} == {2, 3, 4, 5}
    for sheet in sheets:
        contexts, solutions = sheet[::2], sheet[1::2]
        # One frame for the whole document, each solution in it ending with its answer sentence.
        frame = next(f for f in FRAMES if contexts[0].startswith(f[0] + " "))
        assert all(c.startswith(frame[0] + " ") and c.endswith("\n" + frame[1]) for c in contexts)
        assert all(re.search(r"So the answer is \d+\.$", s.removesuffix(SHOT_SEPARATOR)) for s in solutions)
        # Shots joined as a k-shot prompt joins them: every solution but the last ends with the separator.
        assert all(s.endswith(SHOT_SEPARATOR) for s in solutions[:-1]) and not solutions[-1].endswith("\n")
        assert len(questions_of(sheet)) == len(contexts)
    # One solution style a document: symbols, or words, never both.
    assert all(not (" = " in "".join(s[1::2]) and " is " in "".join(s[1::2]).replace("So the answer is", ""))
               for s in sheets)


def test_worksheets_never_hold_the_target_format(corpus):
    assert leaks(corpus, []) == []
    text = "\n".join("".join(e) for e in corpus)
    assert "####" not in text and not re.search(r"^\d+ [-+*/] \d+ = \d+$", text, re.MULTILINE)


def test_unset_worksheets_leave_every_corpus_and_recorded_recipe_as_before():
    plain = CorpusSpec(n_problems=80, styles=STYLES, seed=4)
    assert build_corpus(plain, []) == build_corpus(
        CorpusSpec(n_problems=80, styles=STYLES, seed=4, worksheets=0.0, worksheet_problems=(3, 3)), [])
    assert all(len(e) == 2 for e in build_corpus(plain, []))
    for name, recipe in DEFAULT_STUDENTS.items():
        if not recipe.worksheets:
            assert not {"worksheets", "worksheet_problems"} & set(recipe_record(recipe)), name
    assert recipe_record(DEFAULT_STUDENTS["world-student-worksheets"])["worksheets"] == 0.5
    # The test student's corpus hash as before worksheets existed (a cache key input; the demo
    # student's is the same code path, ~10 s to hash: not asked here).
    tiny = strong_student.student_corpus(DEFAULT_STUDENTS["world-student-tiny"])
    assert corpus_hash(tiny).startswith("5adf186039f245a5")


def test_a_worksheet_hashes_apart_from_its_problems_as_single_documents():
    sheet = worksheet(random.Random(1), CorpusSpec(styles=STYLES, worksheet_problems=(2, 2)))
    singles = [sheet[:2], sheet[2:]]
    assert corpus_hash([sheet]) != corpus_hash(singles)
    # A (context, text) example hashes as before worksheets existed.
    assert corpus_hash([("a", "b")]) == __import__("hashlib").sha256(b"a\1b\0").hexdigest()


def test_a_held_out_question_inside_a_worksheet_is_found_and_never_drawn():
    splits = build_demo_splits(0, 400, 50, 5)
    held = [p for p in splits["strong_train"] if p.level == 1]
    problem = held[0]
    sheet = worksheet(random.Random(2), CorpusSpec(styles=STYLES, worksheet_problems=(2, 2)))
    ask, answer = sheet[2].split(" ", 1)[0], sheet[2].rsplit("\n", 1)[1]
    planted = sheet[:2] + (f"{ask} {problem.question}\n{answer}", f" So the answer is {problem.gold}.")
    assert leaks([sheet], held) == []
    assert any(problem.id in why for why in leaks([planted], held))
    # Every problem in the target's names, items and sentences: one-step ones that word a held-out
    # question exactly are drawn often, and must be drawn again.
    spec = CorpusSpec(n_problems=600, levels=(1,), target_wording=1.0, target_entities=1.0, worksheets=1.0, seed=3)
    drawn = build_corpus(spec, [], held)
    assert leaks(drawn, held) == []
    assert not {q for e in drawn for q in questions_of(e)} & {p.question for p in held}


def test_a_worksheet_is_one_document_with_the_loss_on_its_solutions():
    tokenizer = build_world_tokenizer()
    sheet = worksheet(random.Random(3), CorpusSpec(styles=STYLES, worksheet_problems=(3, 3)))
    (ids, roles), = tokenize_examples(tokenizer, [sheet])
    # The parts, tokenised apart, are the document tokenised whole: BOS, the text, EOS.
    whole = tokenizer("".join(sheet), add_special_tokens=True)["input_ids"]
    assert ids == whole + [tokenizer.eos_token_id]
    trained = tokenizer.decode([i for i, r in zip(ids, roles) if r == COMPLETION_ROLE], skip_special_tokens=True)
    assert trained == "".join(sheet[1::2])
    context = tokenizer.decode([i for i, r in zip(ids, roles) if r == PROMPT_ROLE], skip_special_tokens=True)
    assert context == "".join(sheet[::2])
    with pytest.raises(ValueError, match="even"):
        tokenize_examples(tokenizer, [sheet[:3]])


def test_the_worksheet_students_rows_hold_the_longest_worksheets_whole():
    recipe = DEFAULT_STUDENTS["world-student-worksheets"]
    longest = CorpusSpec(n_problems=200, levels=(max(recipe.levels),), styles=STYLES, worksheets=1.0,
                         worksheet_problems=(recipe.worksheet_problems[1],) * 2, seed=5)
    lengths = [len(ids) for ids, _ in tokenize_examples(build_world_tokenizer(), build_corpus(longest, []))]
    assert max(lengths) <= recipe.seq_len


def test_a_tiny_student_with_worksheets_builds(tmp_path):
    recipe = DEFAULT_STUDENTS["world-student-tiny"].model_copy(
        update={"name": "tiny-worksheets", "worksheets": 0.5, "seq_len": 768, "max_steps": 4, "batch": 2})
    built = strong_student.build_strong_student(recipe, tmp_path)
    report = json.loads((built / strong_student.BUILD_REPORT).read_text())
    assert report["steps"] == 4 and report["final_loss"] == report["final_loss"]  # not NaN
    assert any(len(e) > 2 for e in strong_student.student_corpus(recipe))
    assert pretrain_corpus.leaks(strong_student.student_corpus(recipe), []) == []
