"""Real datasets of the paper's (Zhou et al., issue 28) in a testbed capability's answer format, so the
testbed's checkers (text/capability_answers.py) grade them unchanged:

  sciq   SciQ (allenai/sciq): question, correct_answer, distractor1-3, support. A `facts` problem: the
         four options shuffled by (seed, question) and shown as "(A) ... (D) ...", gold the correct
         option's letter, solution the support paragraph (where the row has one) then "Choice: B".
  esnli  e-SNLI (esnli): premise, hypothesis, label 0 / 1 / 2 = entailment / neutral / contradiction
         (or those words), explanation_1. A `logic` problem: gold yes / unknown / no, solution the
         explanation (where the row has one) then "Verdict: yes". Label -1 (no gold label) is a bad row.

Neither dataset has a difficulty level: level is None. The solution is folded onto one line before
its marker line, and must check right against its own gold (a support that opened with the marker
would not): a row whose gold solution fails the checker is a bad row, not a silent wrong label.
"""
from __future__ import annotations

import random
import re

from w2s_ray.data.records import RecordError, record_id, require_text, type_name
from w2s_ray.data.schema import Problem, content_hash
from w2s_ray.text.capability_answers import FACTS_MARK, LETTERS, LOGIC_MARK, check_capability_answer

FACTS, LOGIC = "facts", "logic"  # the capabilities (data/capabilities) these formats' problems test
SEEDED_FORMATS = frozenset({"sciq"})  # mappers that take the data seed (the option shuffle)
DISTRACTORS = ("distractor1", "distractor2", "distractor3")
# Only the options we write may look like "(A) ": the facts capability reads its options by this mark.
_OPTION_MARK = re.compile(r"\([A-D]\) ")
ESNLI_QUESTION = "Premise: {premise} Hypothesis: {hypothesis} Does the hypothesis follow from the premise?"
ESNLI_VERDICTS = {0: "yes", 1: "unknown", 2: "no"}
ESNLI_LABEL_NAMES = {"entailment": 0, "neutral": 1, "contradiction": 2}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _optional_text(record: dict, field: str) -> str:
    """A free-text field that may be absent, null or empty ("" then)."""
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(field, f"expected a string or null, got {type_name(value)}")
    return _one_line(value)


def _solution(capability: str, mark: str, gold: str, explanation: str, field: str) -> str:
    solution = (f"{explanation}\n" if explanation else "") + f"{mark} {gold}"
    if not check_capability_answer(capability, gold, solution):
        raise RecordError(field, f"the gold solution does not check as {gold!r}: the text opens with {mark!r}")
    return solution


def shuffled_options(stem: str, options: list[str], seed: int) -> list[str]:
    """The options in an order fixed by (seed, question, options): not by the row's place in its file."""
    rng = random.Random(f"sciq:{seed}:{content_hash(stem)}:{content_hash(chr(10).join(options))}")
    return rng.sample(options, len(options))


def from_sciq(record: dict, source: str, seed: int = 0) -> Problem:
    stem = _one_line(require_text(record, "question"))
    fields = ("correct_answer", *DISTRACTORS)
    options = [_one_line(require_text(record, f)) for f in fields]
    for field, text in zip(fields, options):
        if _OPTION_MARK.search(text):
            raise RecordError(field, f"holds an option mark like '(A) ': {text!r}")
    if _OPTION_MARK.search(stem):
        raise RecordError("question", "holds an option mark like '(A) ', which the options' own marks would clash with")
    seen: dict[str, str] = {}
    for field, text in zip(fields, options):
        if text.lower() in seen:
            raise RecordError(field, f"the same option as {seen[text.lower()]} ({text!r})")
        seen[text.lower()] = field
    order = shuffled_options(stem, options, seed)
    letter = LETTERS[order.index(options[0])]
    question = f"{stem} " + " ".join(f"({x}) {text}" for x, text in zip(LETTERS, order))
    return Problem(id=record_id(record, "sciq", question), question=question, gold=letter,
                   solution=_solution(FACTS, FACTS_MARK, letter, _optional_text(record, "support"), "support"),
                   level=None, source=source, capability=FACTS)


def esnli_verdict(label) -> str:
    """yes / unknown / no from an e-SNLI label: 0 / 1 / 2, or entailment / neutral / contradiction."""
    if isinstance(label, str) and label.strip().lower() in ESNLI_LABEL_NAMES:
        label = ESNLI_LABEL_NAMES[label.strip().lower()]
    if isinstance(label, bool) or label not in ESNLI_VERDICTS:
        why = " (no gold label: the annotators disagreed)" if label == -1 else ""
        raise RecordError("label", f"expected 0, 1, 2 or entailment / neutral / contradiction, got {label!r}{why}")
    return ESNLI_VERDICTS[label]


def from_esnli(record: dict, source: str) -> Problem:
    premise = _one_line(require_text(record, "premise"))
    hypothesis = _one_line(require_text(record, "hypothesis"))
    if "label" not in record:
        raise RecordError("label", "missing")
    verdict = esnli_verdict(record["label"])
    question = ESNLI_QUESTION.format(premise=premise, hypothesis=hypothesis)
    return Problem(id=record_id(record, "esnli", question), question=question, gold=verdict,
                   solution=_solution(LOGIC, LOGIC_MARK, verdict, _optional_text(record, "explanation_1"),
                                      "explanation_1"),
                   level=None, source=source, capability=LOGIC)
