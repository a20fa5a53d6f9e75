"""Record formats (GSM8K, MATH, our own schema; SciQ and e-SNLI in data/capability_formats.py) mapped
onto the one Problem schema.

Mappers are strict: a missing field, a wrong type, an empty question or an unknown level raises
RecordError naming the field; the caller adds the file and line. Unknown extra keys are ignored,
since public dumps of these datasets carry assorted metadata.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from w2s_ray.data.capability_formats import SEEDED_FORMATS, from_esnli, from_sciq
from w2s_ray.data.records import RecordError
from w2s_ray.data.records import record_id as _record_id
from w2s_ray.data.records import require_text as _require_text
from w2s_ray.data.records import type_name as _type_name
from w2s_ray.data.schema import ARITHMETIC, LEVELS, Problem

FORMATS = ("gsm8k", "math", "w2s", "sciq", "esnli")
GSM8K_MARK = "####"
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_LEVEL_TEXT = re.compile(r"^\s*(?:level\s*)?(-?\d+)\s*$", re.IGNORECASE)


def parse_level(value: Any) -> int:
    """A difficulty level in 1-5 from an int, "3" or "Level 3" (MATH's spelling)."""
    if isinstance(value, int) and not isinstance(value, bool):
        level = value
    elif isinstance(value, str) and (m := _LEVEL_TEXT.match(value)):
        level = int(m.group(1))
    else:
        raise RecordError("level", f"cannot read a level from {value!r}")
    if level not in LEVELS:
        raise RecordError("level", f"level {level} is outside {LEVELS[0]}-{LEVELS[-1]}")
    return level


def last_boxed(text: str) -> str | None:
    """Content of the last top-level \\boxed{...} (or \\fbox{...}), braces balanced; None if none.

    Braces are matched by counting, so nested groups such as \\boxed{\\frac{1}{2}} come out whole.
    A box whose braces never close does not count.
    """
    found, pos = None, 0
    while m := _BOXED.search(text, pos):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            return found
        found, pos = text[m.end() : i - 1], i
    return found


def from_gsm8k(record: dict, source: str) -> Problem:
    """{"question", "answer": "steps...\\n#### N"}: gold is N without commas.

    level is the number of non-blank solution lines before "####", clipped to 1-5, so level 5 means
    five or more steps.
    """
    question = _require_text(record, "question")
    answer = _require_text(record, "answer")
    if GSM8K_MARK not in answer:
        raise RecordError("answer", f"no '{GSM8K_MARK}' final-answer line")
    steps_text, _, final = answer.rpartition(GSM8K_MARK)
    gold = final.strip().replace(",", "")
    if not gold:
        raise RecordError("answer", f"nothing after '{GSM8K_MARK}'")
    n_steps = sum(1 for line in steps_text.splitlines() if line.strip())
    return Problem(
        id=_record_id(record, "gsm8k", question),
        question=question,
        gold=gold,
        solution=answer,
        level=min(max(n_steps, LEVELS[0]), LEVELS[-1]),
        source=source,
    )


def from_math(record: dict, source: str) -> Problem:
    """{"problem", "solution": "... \\boxed{ans} ...", "level": "Level 3"}: gold is ans as written."""
    question = _require_text(record, "problem")
    solution = _require_text(record, "solution")
    gold = last_boxed(solution)
    if gold is None or not gold.strip():
        raise RecordError("solution", "no non-empty \\boxed{...} answer")
    if "level" not in record:
        raise RecordError("level", "missing")
    return Problem(
        id=_record_id(record, "math", question),
        question=question,
        gold=gold.strip(),
        solution=solution,
        level=parse_level(record["level"]),
        source=source,
    )


def from_w2s(record: dict, source: str) -> Problem:
    """Our own schema. question, gold and level must be present; gold and level may be null
    (questions-only sets, unknown difficulty), which is not the same as forgetting them. An optional
    `capability` names the skill (data/capabilities); without it the problem is arithmetic."""
    question = _require_text(record, "question")
    for field in ("gold", "level"):
        if field not in record:
            raise RecordError(field, "missing")
    gold = record["gold"]
    if isinstance(gold, int) and not isinstance(gold, bool):
        gold = str(gold)
    if gold is not None and (not isinstance(gold, str) or not gold.strip()):
        raise RecordError("gold", f"expected a non-empty string, an integer or null, got {gold!r}")
    solution = record.get("solution")
    if solution is not None and not isinstance(solution, str):
        raise RecordError("solution", f"expected a string or null, got {_type_name(solution)}")
    own_source = record.get("source")
    if own_source is not None and not isinstance(own_source, str):
        raise RecordError("source", f"expected a string or null, got {_type_name(own_source)}")
    capability = record.get("capability")  # absent or null: arithmetic (data/schema.py)
    if capability is not None and (not isinstance(capability, str) or not capability.strip()):
        raise RecordError("capability", f"expected a non-empty string or null, got {capability!r}")
    if capability is not None:
        from w2s_ray.data.capabilities import capability_names

        if capability not in capability_names():
            raise RecordError("capability", f"unknown capability {capability!r}; known: {', '.join(capability_names())}")
        capability = None if capability == ARITHMETIC else capability  # arithmetic rows carry none
    return Problem(
        id=_record_id(record, "w2s", question),
        question=question,
        gold=gold,
        solution=solution,
        level=None if record["level"] is None else parse_level(record["level"]),
        source=own_source or source,
        capability=capability,
    )


MAPPERS: dict[str, Callable[[dict, str], Problem]] = {
    "gsm8k": from_gsm8k,
    "math": from_math,
    "w2s": from_w2s,
    "sciq": from_sciq,
    "esnli": from_esnli,
}
# The record field each format reads a problem's question and gold from: what an error names.
QUESTION_FIELD = {"gsm8k": "question", "math": "problem", "w2s": "question", "sciq": "question",
                  "esnli": "hypothesis"}
GOLD_FIELD = {"gsm8k": "answer", "math": "solution", "w2s": "gold", "sciq": "correct_answer", "esnli": "label"}


def mapper_for(format: str, seed: int = 0) -> Callable[[dict, str], Problem]:
    """The format's mapper; a seeded one (SciQ's option shuffle) with the data seed bound."""
    mapper = MAPPERS[format]
    return functools.partial(mapper, seed=seed) if format in SEEDED_FORMATS else mapper


def detect_format(record: dict) -> str:
    """The format whose identifying keys the record has."""
    if "problem" in record:
        return "math"
    if "question" in record and "answer" in record:
        return "gsm8k"
    if "question" in record and "gold" in record:
        return "w2s"
    if "question" in record and "correct_answer" in record:
        return "sciq"
    if "premise" in record and "hypothesis" in record:
        return "esnli"
    raise RecordError(None, f"cannot tell the format from keys {sorted(record)}")
