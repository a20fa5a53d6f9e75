"""The capabilities beyond arithmetic (issue 28 §1): each generator's gold is right (checked against a
solver written here, from the question text alone), its checker takes the gold and refuses planted
wrong answers, its levels differ measurably, and the same seed gives the same problems."""
from __future__ import annotations

import re

import numpy as np
import pytest

from w2s_ray.data.capabilities import capability_names, generate_problems, get_capability
from w2s_ray.data.capabilities.facts import knowledge
from w2s_ray.data.formats import RecordError, from_w2s
from w2s_ray.data.schema import LEVELS
from w2s_ray.data.world import generate_world
from w2s_ray.score.answer_checker import AnswerChecker
from w2s_ray.data.capabilities.commands import TURNS, VERBS
from w2s_ray.text.capability_answers import COMMAND_ACTIONS, PARSERS

OTHERS = ("temporal", "commands", "logic", "facts")


# --- solvers from the question text: an implementation of each task apart from the generator's ---

def solve_temporal(question: str) -> str:
    """The earlier of the two asked, from every wording of "before"/"after" the target and corpus use."""
    earlier: set[tuple[str, str]] = set()
    for a, b in re.findall(r"(\w+) (?:arrived before|came in earlier than|got there before) (\w+)", question):
        earlier.add((a, b))
    for b, a in re.findall(r"(\w+) (?:arrived after|showed up later than|turned up after) (\w+)", question):
        earlier.add((a, b))
    changed = True
    while changed:  # transitive closure
        new = {(a, d) for a, b in earlier for c, d in earlier if b == c} - earlier
        earlier |= new
        changed = bool(new)
    asked = re.search(r"Who arrived first, (\w+) or (\w+)\?|Of (\w+) and (\w+)|Which of (\w+) and (\w+)", question)
    x, y = [g for g in asked.groups() if g]  # the one pair of groups that matched
    assert ((x, y) in earlier) != ((y, x) in earlier), question
    return x if (x, y) in earlier else y


def run_command(command: str) -> list[str]:
    """SCAN's semantics, left to right over "and" / "after"."""
    def phrase(words: list[str]) -> list[str]:
        times = {"twice": 2, "thrice": 3}.get(words[-1], 1)
        words = words[:-1] if times > 1 else words
        verb, rest = words[0], words[1:]
        act = [] if verb == "turn" else [verb.upper()]
        if not rest:
            return act * times
        turn = ["LTURN" if rest[-1] == "left" else "RTURN"]
        if rest[0] == "around":
            return (turn + act) * 4 * times
        return (turn * (2 if rest[0] == "opposite" else 1) + act) * times

    parts = re.split(r" (and|after) ", command)
    out = phrase(parts[0].split())
    for conj, words in zip(parts[1::2], parts[2::2]):
        out = out + phrase(words.split()) if conj == "and" else phrase(words.split()) + out
    return out


def solve_logic(question: str) -> str:
    name, start = re.match(r"(\w+) (?:is a|belongs to the) (\w+)", question).groups()
    target = re.search(r"(?:Is \w+ a|that \w+ is a) (\w+)\?$", question).group(1)
    every = re.findall(r"(?:Every|Anything that is a) (\w+) is (?:also )?a (\w+)\.", question)
    never = re.findall(r"(?:No|Nothing that is a) (\w+) is a (\w+)\.", question)
    known, frontier = {start}, [start]
    while frontier:
        c = frontier.pop()
        for a, b in every:
            if a == c and b not in known:
                known.add(b)
                frontier.append(b)
    if target in known:
        return "yes"
    return "no" if any(a in known and b == target for a, b in never) else "unknown"


def solve_facts(question: str) -> str:
    eats, lives = knowledge()
    animal = re.search(r"the (\w+) live\?", question).group(1)
    for _ in range(question.count("prey of the")):
        animal = eats[animal]
    options = dict(re.findall(r"\(([A-D])\) (\w+)", question))
    return next(letter for letter, home in options.items() if home == lives[animal])


SOLVERS = {"temporal": solve_temporal, "logic": solve_logic, "facts": solve_facts,
           "commands": lambda q: " ".join(run_command(re.search(r'"(.+)"', q).group(1)))}


@pytest.fixture(scope="module")
def problems():
    return {name: generate_problems(name, 250, seed=3) for name in OTHERS}


def test_every_capability_is_registered_with_its_answer_reader():
    assert capability_names() == ["arithmetic", "commands", "facts", "logic", "temporal"]
    assert sorted(PARSERS) == sorted(OTHERS)
    assert COMMAND_ACTIONS == {*VERBS.values(), *TURNS.values()}  # the checker knows every action written
    with pytest.raises(ValueError, match="unknown capability 'poetry'"):
        get_capability("poetry")


@pytest.mark.parametrize("name", OTHERS)
def test_gold_is_right_and_checks_right(name, problems):
    capability = get_capability(name)
    for p in problems[name]:
        assert p.capability == name and p.id.startswith(f"{name}:") and p.level in LEVELS
        assert SOLVERS[name](p.question).lower() == p.gold.lower(), (p.question, p.gold)
        assert capability.check(p.gold, p.solution), p.solution
        assert capability.parse_answer(p.solution) == p.gold.lower()
    assert {p.level for p in problems[name]} == set(LEVELS)


def _planted_wrong(name: str, p, choices) -> list[str]:
    mark = p.solution.split("\n")[-1].split(" ")[0]
    if name == "commands":
        acts = p.gold.split()
        wrong = [acts[:-1], acts + ["WALK"], acts[::-1] if acts != acts[::-1] else None, ["JUMP"] * (len(acts) + 1)]
        return [f"{mark} {' '.join(w)}" for w in wrong if w and w != acts] + [f"{mark} {p.gold} please"]
    return [f"{mark} {c}" for c in choices if c.lower() != p.gold.lower()]


@pytest.mark.parametrize("name", OTHERS)
def test_planted_wrong_answers_and_unstated_ones_fail(name, problems):
    capability = get_capability(name)
    for p in problems[name][:60]:
        choices = capability.choices(p.question) if capability.choices else ()
        if choices:
            assert p.gold in choices
        wrong = _planted_wrong(name, p, choices)
        assert wrong and not any(capability.check(p.gold, w) for w in wrong), wrong
        body = "\n".join(p.solution.split("\n")[:-1])
        unstated = [body, f"So the answer is {p.gold}.", "", f"{p.gold}", "x" * 70000 + p.solution]
        assert not any(capability.check(p.gold, t) for t in unstated)
        assert not capability.check(None, p.solution) and not capability.check(p.gold, None)


def test_levels_differ_measurably(problems):
    """Level L: temporal L links between the two asked (of L + 2 statements), commands L conjunctions
    (and longer action lists), logic L inference steps (of L + 3 rules), facts L chained facts."""
    for p in problems["temporal"]:  # every link restated, "--", the walk from the first asked, the answer
        steps, answer = p.solution.split("\n")
        restated, walk = steps.split(" -- ")
        assert len(re.findall(r"\w+ < \w+\.", restated)) == p.level + 2 and answer == f"=> {p.gold}"
        first_asked = re.search(r"first, (\w+) or", p.question).group(1)
        assert len(re.findall(r"\w+ < \w+\.", walk)) == (p.level if first_asked == p.gold else 2)
        assert p.question.count(" arrived before ") + p.question.count(" arrived after ") == p.level + 2
    for p in problems["commands"]:
        assert len(re.findall(r" (?:and|after) ", p.question)) == p.level
    lengths = {lv: np.mean([len(p.gold.split()) for p in problems["commands"] if p.level == lv]) for lv in LEVELS}
    assert all(lengths[lv] < lengths[lv + 1] for lv in LEVELS[:-1]), lengths
    for p in problems["logic"]:
        steps = len(p.solution.split("\n")) - 1
        assert steps == (p.level - 1 if p.gold == "unknown" else p.level)
        assert p.question.count(" is a ") - 1 == p.level + 3  # the fact, the rules, the question
    for p in problems["facts"]:
        assert p.question.count("prey of the") == p.level - 1 and len(p.solution.split("\n")) == p.level + 1


def test_choice_answers_are_balanced(problems):
    for name, answers in (("logic", ("yes", "no", "unknown")), ("facts", ("A", "B", "C", "D"))):
        counts = [sum(p.gold == a for p in problems[name]) for a in answers]
        assert min(counts) > len(problems[name]) / len(answers) / 2, (name, counts)
    first = sum(p.question.endswith(f", {p.gold} or {p.question.split(' or ')[-1]}") for p in problems["temporal"])
    assert 0.3 < first / len(problems["temporal"]) < 0.7  # the earlier one is asked first about half the time


@pytest.mark.parametrize("name", OTHERS)
def test_the_same_seed_gives_the_same_problems_and_a_prefix_for_fewer(name):
    a, b = generate_problems(name, 40, seed=5), generate_problems(name, 40, seed=5)
    assert a == b and generate_problems(name, 15, seed=5) == a[:15]
    assert generate_problems(name, 40, seed=6) != a
    assert len({p.question for p in a}) == 40


def test_arithmetic_rows_are_as_before_and_a_capability_travels_through_our_format():
    world = generate_world(5, seed=0)
    assert generate_problems("arithmetic", 5, seed=0) == world
    assert all(set(p.to_row()) == {"id", "question", "gold", "solution", "level", "source"} for p in world)
    p = generate_problems("logic", 1, seed=0)[0]
    assert from_w2s(p.to_row(), "x.jsonl") == p
    assert from_w2s({**world[0].to_row(), "capability": "arithmetic"}, "x.jsonl") == world[0]
    with pytest.raises(RecordError, match="unknown capability 'poetry'"):
        from_w2s({**p.to_row(), "capability": "poetry"}, "x.jsonl")


def test_answer_check_dispatches_each_row_to_its_capability():
    rows = [generate_problems(name, 1, seed=1)[0] for name in OTHERS]
    texts = [p.solution for p in rows] + ["#### 7", "#### 7", "=> nobody", "x" * 70000 + rows[0].solution]
    golds = [p.gold for p in rows] + ["7", "8", rows[0].gold, rows[0].gold]
    caps = [p.capability for p in rows] + [None, "arithmetic", "temporal", "temporal"]
    out = AnswerChecker()({"text": np.array(texts, dtype=object), "gold": np.array(golds, dtype=object),
                           "answer": np.array(["", "", "", "", "7", "7", "", ""], dtype=object),
                           "capability": np.array(caps, dtype=object)})
    assert out["correct"].tolist() == [True, True, True, True, True, False, False, False]
    assert out["answer_refused"].tolist() == [False] * 7 + [True]  # a flood, as in arithmetic
    assert out["has_gold"].all()
    # The answer column is arithmetic's reading: a capability row's is never compared.
    lone = {"text": np.array(["=> nobody"], dtype=object), "gold": np.array(["7"], dtype=object),
            "answer": np.array(["7"], dtype=object), "capability": np.array(["temporal"], dtype=object)}
    assert not AnswerChecker()(lone)["correct"][0]
    gold_less = AnswerChecker()({**lone, "text": np.array([rows[0].solution], dtype=object),
                                 "gold": np.array([None], dtype=object)})
    assert not gold_less["correct"][0] and not gold_less["has_gold"][0]
