"""The capabilities' pretraining corpus (data/capabilities/corpus.py): each skill in other wordings and
in prose, right by the solvers of tests/test_capabilities.py; never a target format nor a held-out
(strong-half or test) problem solved, by content hash and by what a question asks; and a strong-student
recipe that names no capability builds what it always did."""
from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from tests.test_capabilities import OTHERS, run_command, solve_logic, solve_temporal
from w2s_ray.data import world
from w2s_ray.data.capabilities import capability_splits, get_capability
from w2s_ray.data.capabilities.commands import command_of
from w2s_ray.data.capabilities.corpus import CapabilityCorpusSpec, build_capability_corpus, leaks
from w2s_ray.data.capabilities.facts import knowledge
from w2s_ray.data.pretrain_corpus import FRAMES, UNLABELLED_PREFIX
from w2s_ray.data.schema import content_hash
from w2s_ray.models.built_in import built_in
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, corpus_hash, recipe_record, student_corpus
from w2s_ray.models.word_tokenizer import build_world_tokenizer, vocabulary_sha256

ANSWER = re.compile(r"So the answer is (.+)\.$")


@pytest.fixture(scope="module")
def splits():
    return {name: capability_splits(name, 0, 400, 150, 20) for name in OTHERS}


@pytest.fixture(scope="module")
def corpus(splits):
    unlabelled = [p for s in splits.values() for p in [*s["strong_train"], *s["weak_train"]][:100]]
    held_out = [p for s in splits.values() for p in [*s["strong_train"], *s["test"]]]
    return build_capability_corpus(CapabilityCorpusSpec(OTHERS, n_problems=400, seed=1), unlabelled, held_out)


def _solved(corpus):
    """(question, solution) of every solved problem, the frame taken off."""
    out = []
    for context, text in corpus:
        if context:
            ask, _, _ = context.partition(" ")
            assert ask in {a for a, _ in FRAMES}
            out.append((context.split(" ", 1)[1].rsplit("\n", 1)[0], text.strip()))
    return out


def _corpus_solver(question: str) -> str | None:
    """The answer the corpus's own question asks for, by the solvers of the target's problems."""
    if "arrived" in question or "came in" in question or "got there" in question or "showed up" in question \
            or "turned up" in question:
        return solve_temporal(question)
    if " kind." in question or re.search(r"Is \w+ a \w+\?$", question):
        return solve_logic(question)
    if "food chain" in question or "find the" in question or "prey of the" in question or question.startswith("Where"):
        eats, lives = knowledge()
        animal = re.search(r"the (\w+)(?: for| live\?|\?)", question).group(1)
        hops = int(m.group(1)) if (m := re.search(r"for (\d+) steps", question)) else question.count("prey of the")
        for _ in range(hops):
            animal = eats[animal]
        return lives[animal]
    return " ".join(run_command(command_of(question))).lower()


def _assert_right(solved):
    for question, solution in solved:
        answer = ANSWER.search(solution).group(1).replace(",", "").lower()
        if lettered := re.fullmatch(r"\(([a-d])\) (\w+)", answer):  # a facts question with options
            letter, answer = lettered.groups()
            assert f"({letter.upper()}) {answer}" in question, (question, solution)
        assert answer == _corpus_solver(question).lower(), (question, solution)


def test_every_corpus_solution_is_right_in_prose(corpus):
    solved = _solved(corpus)
    assert len(solved) == 400 * len(OTHERS)
    _assert_right(solved)


def test_the_corpus_never_holds_a_target_format_or_a_held_out_solution(corpus, splits):
    held_out = [p for s in splits.values() for p in [*s["strong_train"], *s["test"]]]
    assert leaks(corpus, held_out) == []
    text = "\n".join("".join(example) for example in corpus)
    for name in OTHERS:
        assert not get_capability(name).target_format.search(text), name
    assert not re.search(r"^(=>|OUT:|Verdict:|Choice:)", text, re.MULTILINE) and "####" not in text
    # By content hash: no test question at all; a strong-half question only unlabelled, without answer.
    first_lines = {content_hash(q.split(" ", 1)[1]): example for example in corpus
                   for q in ["".join(example).split("\n", 1)[0]] if " " in q}
    for name, s in splits.items():
        assert not first_lines.keys() & {content_hash(p.question) for p in s["test"]}, name
        strong = [first_lines[h] for h in first_lines.keys() & {content_hash(p.question) for p in s["strong_train"]}]
        assert strong and all(c == "" and "answer" not in t for c, t in strong), name
    # No held-out command is solved in any wording (commands have no names to tell two wordings apart).
    held_commands = {command_of(p.question) for p in splits["commands"]["strong_train"] + splits["commands"]["test"]}
    assert not held_commands & {command_of(q) for q, _ in _solved(corpus) if '"' in q or q.startswith("Follow this")}


def test_the_corpus_states_every_fact_and_shows_train_questions_unlabelled(corpus, splits):
    eats, lives = knowledge()
    sheets = [t for c, t in corpus if t.startswith("About the ")]
    assert len(sheets) == 4 * len(eats)
    for animal in eats:
        assert f"About the {animal}: The {animal} feeds on the {eats[animal]}. The {animal} makes its home in the " \
               f"{lives[animal]}." in sheets
    unlabelled = {t.removeprefix(f"{UNLABELLED_PREFIX} ") for c, t in corpus if t.startswith(UNLABELLED_PREFIX)}
    assert {p.question for p in splits["logic"]["strong_train"][:100]} <= unlabelled


def test_planted_leaks_are_found(splits):
    held = splits["commands"]["test"][0]
    cmd = command_of(held.question)
    planted = [
        ("Q: something\nA:", " Noah < Tom\n=> Noah"),  # temporal target format
        ("", "Verdict: yes"),  # logic's
        ("Problem: x\nSolution:", " 1 + 2 = 3\n#### 3"),  # arithmetic's
        (f"Q: Follow this: {cmd}. What do you do?\nA:", " So the answer is jump."),  # held-out, other wording
        ("", f"{UNLABELLED_PREFIX} {held.question} So the answer is {held.gold}."),  # its answer sentence
    ]
    found = leaks(planted, [held])
    assert [f.split(":")[0] for f in found] == [f"example {i}" for i in range(5)], found
    assert "held-out commands problem" in found[3] and "held-out commands problem" in found[4]


def test_held_out_problems_in_the_target_wording_are_drawn_again():
    held = capability_splits("commands", 0, 100, 300, 20)
    held_out = [*held["strong_train"], *held["test"]]
    corpus = build_capability_corpus(CapabilityCorpusSpec(("commands",), n_problems=3000, target_wording=1.0,
                                                          levels=(1,)), [], held_out)
    assert len(corpus) == 3000 and leaks(corpus, held_out) == []


def test_corpus_is_the_same_for_a_seed_and_fits_the_capability_tokenizer(corpus, splits):
    spec = CapabilityCorpusSpec(OTHERS, n_problems=50, seed=2)
    again = build_capability_corpus(spec, [], [])
    assert again == build_capability_corpus(spec, [], [])
    assert again != build_capability_corpus(CapabilityCorpusSpec(OTHERS, n_problems=50, seed=3), [], [])
    tokenizer = build_world_tokenizer(("arithmetic", *OTHERS))
    texts = ["".join(e) for e in corpus] + [f"Question: {p.question}\nAnswer: {p.solution}"
                                            for s in splits.values() for p in s["test"]]
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert not any(tokenizer.unk_token_id in ids for ids in tokenizer(texts)["input_ids"])
    assert max(lengths) <= DEFAULT_STUDENTS["world-student"].seq_len


def test_spec_and_recipe_refuse_unknown_or_repeated_capabilities():
    with pytest.raises(ValueError, match="unknown capability 'poetry'"):
        CapabilityCorpusSpec(("poetry",))
    with pytest.raises(ValueError, match="arithmetic's corpus"):
        CapabilityCorpusSpec(("arithmetic", "logic"))
    recipe = DEFAULT_STUDENTS["world-student-tiny"]
    for bad in (("arithmetic", "poetry"), ("logic", "logic"), ()):
        with pytest.raises(ValidationError):
            type(recipe).model_validate({**recipe.model_dump(), "capabilities": bad})


def test_a_recipe_without_capabilities_builds_what_it_always_did():
    # Hashed on main before capabilities existed (recipe keys, vocabulary, the tiny student's corpus).
    assert built_in("world-student").recipe_sha256() == "712283a96f48dfec"
    assert built_in("world-student-tiny").recipe_sha256() == "3ca2d6c0d76dbd0c"
    assert vocabulary_sha256(build_world_tokenizer()).startswith("70fd4251dd922513")
    assert vocabulary_sha256(build_world_tokenizer(("arithmetic",))) == vocabulary_sha256(build_world_tokenizer())
    tiny = DEFAULT_STUDENTS["world-student-tiny"]
    assert corpus_hash(student_corpus(tiny)).startswith("5adf186039f245a5")
    assert all("capabilities" not in recipe_record(r) for r in DEFAULT_STUDENTS.values()
               if r.capabilities == ("arithmetic",))


def test_a_recipe_naming_capabilities_pretrains_on_all_of_them_without_leaks():
    tiny = DEFAULT_STUDENTS["world-student-tiny"]
    recipe = tiny.model_validate({**tiny.model_dump(), "capabilities": ("arithmetic", *OTHERS),
                                  "capability_problems": 100, "capability_unlabelled": 20})
    assert recipe_record(recipe)["capabilities"] == ["arithmetic", *OTHERS]
    examples = student_corpus(recipe)  # refused inside if any part leaks
    arithmetic = student_corpus(tiny)
    assert examples[: len(arithmetic)] == arithmetic
    extra = examples[len(arithmetic):]
    solved = _solved(extra)
    assert len(solved) == 100 * len(OTHERS)
    _assert_right(solved)
    assert sum(t.startswith(UNLABELLED_PREFIX) for _, t in extra) == 20 * len(OTHERS)
    assert vocabulary_sha256(build_world_tokenizer(recipe.capabilities)) != vocabulary_sha256(build_world_tokenizer())


@pytest.fixture(scope="module")
def dressed(splits):
    """The corpus as world-student-multicap's recipe dresses it: temporal in the target's names, facts'
    target-worded questions with their options."""
    held_out = [p for s in splits.values() for p in [*s["strong_train"], *s["test"]]]
    return build_capability_corpus(CapabilityCorpusSpec(OTHERS, n_problems=400, seed=1, target_names=1.0,
                                                        options=True), [], held_out)


def test_a_question_keys_alike_in_every_wording_and_apart_when_it_asks_otherwise():
    temporal, facts = get_capability("temporal"), get_capability("facts")
    target = "Tom arrived before Mia. Luke arrived after Mia. Who arrived first, Luke or Tom?"
    corpus = "Luke turned up after Mia. Tom got there before Mia did. Which of Tom and Luke got there first?"
    assert temporal.key(target) == temporal.key(corpus)
    assert temporal.key(target) != temporal.key(target.replace("Luke or Tom", "Mia or Tom"))
    assert temporal.key(target) != temporal.key(target.replace("Tom arrived before Mia", "Mia arrived before Tom"))
    asked = "Where does the prey of the prey of the zorfen live? (A) desert (B) river (C) sea (D) mountain"
    for same in ("Where does the prey of the prey of the zorfen live? (A) river (B) sea (C) cave (D) forest",
                 "Where does the prey of the prey of the zorfen live?",
                 "Follow the food chain from the zorfen for 2 steps. Where does that animal live?"):
        assert facts.key(asked) == facts.key(same), same
    assert facts.key(asked) != facts.key("Follow the food chain from the zorfen for 1 steps. Where does that animal live?")
    assert facts.key("Where does the zorfen live? (A) sea (B) cave (C) river (D) desert") == \
        facts.key("Where can you find the zorfen?")


def test_a_held_out_question_asked_in_the_corpus_s_own_words_is_a_leak(splits):
    """Before the keys, both of these passed: the strings differ from the held-out questions'."""
    facts_held = next(p for p in splits["facts"]["test"] if p.level > 1)
    animal = re.search(r"the (\w+) live\?", facts_held.question).group(1)
    temporal_held = splits["temporal"]["test"][0]
    links = re.findall(r"(\w+) arrived (before|after) (\w+)\.", temporal_held.question)
    x, y = get_capability("temporal").choices(temporal_held.question)
    reworded = " ".join(f"{a} came in earlier than {b}." if rel == "before" else f"{a} turned up after {b}."
                        for a, rel, b in links) + f" Of {x} and {y}, who came in earlier?"
    planted = [(f"Problem: Follow the food chain from the {animal} for {facts_held.level - 1} steps. Where does "
                f"that animal live?\nSolution:", " So the answer is sea."),
               (f"Problem: {reworded}\nSolution:", f" So the answer is {x}.")]
    found = leaks(planted, [facts_held, temporal_held])
    assert [f.split(":")[0] for f in found] == ["example 0", "example 1"], found


def test_the_dressed_corpus_is_right_and_holds_no_held_out_problem(dressed, splits):
    solved = _solved(dressed)
    assert len(solved) == 400 * len(OTHERS)
    _assert_right(solved)
    held_out = [p for s in splits.values() for p in [*s["strong_train"], *s["test"]]]
    assert leaks(dressed, held_out) == []
    temporal = [q for q, _ in solved if "arrived" in q or "came in" in q or "got there" in q or "showed up" in q
                or "turned up" in q]
    target_names = set(world.NAMES)
    assert temporal and all(set(re.findall(r"[A-Z][a-z]+", q)) - {"Who", "Of", "Which"} <= target_names
                            for q in temporal)
    with_options = [(q, a) for q, a in solved if q.startswith("Where does") and "(A)" in q]
    assert with_options and all(get_capability("facts").choices(q) for q, _ in with_options)
    assert all(re.search(r"So the answer is \([A-D]\) \w+\.$", a) for _, a in with_options)
    assert not [q for q, _ in solved if q.startswith("Where does") and "(A)" not in q]


def test_the_undressed_corpus_keeps_the_corpus_names(corpus):
    """At CorpusDress's defaults nothing is borrowed (and nothing drawn for it: old corpora stay)."""
    text = "\n".join("".join(example) for example in corpus if "arrived" in example[0])
    assert text and not set(re.findall(r"[A-Z][a-z]+", text)) & set(world.NAMES)
    assert not [c for c, _ in corpus if c and "(A)" in c]


def test_a_capability_may_have_its_own_count_of_solved_problems():
    from w2s_ray.data.capabilities.corpus import CapabilityCorpusSpec, build_capability_corpus

    spec = CapabilityCorpusSpec(capabilities=("temporal", "logic"), n_problems=3, n_problems_for=(("temporal", 7),))
    solved = [solution for context, solution in build_capability_corpus(spec, []) if context]
    temporal = [s for s in solved if " came before " in s or "No one came after" in s]
    assert len(temporal) == 7 and len(solved) == 10
    with pytest.raises(ValueError, match="commands"):
        CapabilityCorpusSpec(capabilities=("temporal",), n_problems_for=(("commands", 7),))
