"""The final answer of each capability beyond arithmetic (data/capabilities), read out of a model's text:
the checker answer_check dispatches to by a row's `capability`.

Each capability's target format closes with a marker line ("=> Noah", "OUT: JUMP LTURN WALK",
"Verdict: unknown", "Choice: B"); the answer is what follows the first line that opens with its marker,
normalised, and only if it is an answer of that capability (a known action word, verdict or letter).
Model output is only ever split and compared as strings. Here, below data/ and score/, so that both
read answers the same way without the score layer importing the data layer.
"""
from __future__ import annotations

from collections.abc import Callable

from w2s_ray.text.answers import MAX_TEXT_CHARS

TEMPORAL_MARK, COMMANDS_MARK, LOGIC_MARK, FACTS_MARK = "=>", "OUT:", "Verdict:", "Choice:"
COMMAND_ACTIONS = frozenset(("WALK", "LOOK", "RUN", "JUMP", "LTURN", "RTURN"))
VERDICTS = ("yes", "no", "unknown")
LETTERS = ("A", "B", "C", "D")


def normalise(answer: str) -> str:
    """One spelling of an answer: lower-cased, single-spaced, a closing full stop dropped."""
    return " ".join(answer.strip().rstrip(".").split()).lower()


def answer_after(text: str, marker: str) -> str:
    """What follows `marker` on the first line that opens with it, normalised; "" where no line does
    (or the text is a flood over MAX_TEXT_CHARS)."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT_CHARS:
        return ""
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith(marker):
            return normalise(line[len(marker):])
    return ""


def temporal_answer(text: str) -> str:
    """A name: one word."""
    answer = answer_after(text, TEMPORAL_MARK)
    return answer if len(answer.split()) == 1 else ""


def commands_answer(text: str) -> str:
    """Action words, every one of COMMAND_ACTIONS."""
    answer = answer_after(text, COMMANDS_MARK)
    return answer if answer and all(w.upper() in COMMAND_ACTIONS for w in answer.split()) else ""


def logic_answer(text: str) -> str:
    answer = answer_after(text, LOGIC_MARK)
    return answer if answer in VERDICTS else ""


def facts_answer(text: str) -> str:
    """A letter, "B" or "(B)"."""
    answer = answer_after(text, FACTS_MARK).strip("()")
    return answer if answer.upper() in LETTERS else ""


PARSERS: dict[str, Callable[[str], str]] = {
    "temporal": temporal_answer, "commands": commands_answer, "logic": logic_answer, "facts": facts_answer,
}


def capability_answer(capability: str, text: str) -> str:
    """The normalised answer `text` states in `capability`'s target format; "" where it states none."""
    if capability not in PARSERS:
        raise ValueError(f"no answer format for capability {capability!r}; known: {', '.join(sorted(PARSERS))}")
    return PARSERS[capability](text)


def check_capability_answer(capability: str, gold: str | None, text: str | None) -> bool:
    """Does `text` state `gold`? False without a gold or a stated answer."""
    if not gold or not isinstance(text, str):
        return False
    answer = capability_answer(capability, text)
    return bool(answer) and answer == normalise(str(gold))
