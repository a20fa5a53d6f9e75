import re
from collections import Counter

import pytest

from w2s_ray.data.schema import content_hash
from w2s_ray.data.world import MAX_VALUE, NAMES, generate_world, vocabulary_texts

STEP_LINE = re.compile(r"^(\d+) ([-+*/]) (\d+) = (\d+)$")
FINAL_LINE = re.compile(r"^#### (\d+)$")
NUMBER = re.compile(r"\d+")


@pytest.fixture(scope="module")
def world():
    return generate_world(500, seed=7)


def test_same_seed_same_problems_other_seed_others():
    assert generate_world(50, seed=1) == generate_world(50, seed=1)
    assert generate_world(50, seed=1) != generate_world(50, seed=2)


def test_prefix_of_a_larger_draw():
    assert generate_world(100, seed=3)[:40] == generate_world(40, seed=3)


def test_every_step_line_recomputes(world):
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    for p in world:
        *steps, final = p.solution.split("\n")
        running = None
        for line in steps:
            a, op, b, c = STEP_LINE.match(line).groups()
            a, b, c = int(a), int(b), int(c)
            if op == "/":
                assert a % b == 0, line
                assert a // b == c, line
            else:
                assert ops[op](a, b) == c, line
            # Each step works on the previous step's result.
            assert running is None or a == running, p.solution
            running = c
        assert FINAL_LINE.match(final).group(1) == str(running) == p.gold


def test_solution_starts_from_the_number_in_the_question(world):
    for p in world:
        first_number_in_question = NUMBER.search(p.question).group()
        assert p.solution.split(" ")[0] == first_number_in_question


def test_all_numbers_within_range(world):
    for p in world:
        for number in NUMBER.findall(p.question + "\n" + p.solution):
            assert 0 <= int(number) <= MAX_VALUE, p


def test_operands_and_factors_in_spec(world):
    for p in world:
        for line in p.solution.split("\n")[:-1]:
            _, op, b, c = STEP_LINE.match(line).groups()
            assert 1 <= int(c)
            if op in "*/":
                assert 2 <= int(b) <= 5, line
            else:
                assert 1 <= int(b) <= 60, line


def test_level_is_number_of_step_lines(world):
    for p in world:
        assert len(p.solution.split("\n")) - 1 == p.level
        # One operation sentence per step, plus the opening and the question.
        assert p.question.count(".") + p.question.count("?") == p.level + 2


def test_levels_balanced():
    counts = Counter(p.level for p in generate_world(53, seed=0))
    assert set(counts) == {1, 2, 3, 4, 5}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_level_subset():
    assert {p.level for p in generate_world(20, seed=0, levels=(4, 5))} == {4, 5}
    with pytest.raises(ValueError):
        generate_world(5, seed=0, levels=(6,))


def test_record_fields(world):
    hashes = [content_hash(p.question) for p in world]
    assert len(set(hashes)) == len(world)
    for p, h in zip(world, hashes):
        assert p.id == f"world:{h}"
        assert p.source == "world"
        assert p.question.endswith("have now?")


def test_pronoun_consistent_with_name(world):
    for p in world:
        name = p.question.split(" ")[0]
        assert set(re.findall(r"\b(She|He)\b", p.question)) == {NAMES[name]}, p.question
        assert f"does {name} have now?" in p.question


def test_vocabulary_covers_every_emitted_word(world):
    def words(text):
        return {w for w in re.findall(r"\w+|[^\w\s]+", text) if not w.isdigit()}

    vocabulary = set().union(*(words(t) for t in vocabulary_texts()))
    emitted = set().union(*(words(p.question + "\n" + p.solution) for p in world))
    assert emitted <= vocabulary
    assert {"+", "-", "*", "/", "=", "####", ".", "?"} <= vocabulary
    # Closed and small: a tiny model's embedding table should not be dominated by words.
    assert len(vocabulary) < 150
