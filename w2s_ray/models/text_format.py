"""The one prompt format every model in the system sees, and the training text built from it.

Zero-shot prompt: "Question: {question}\nAnswer:"; the target continuation is " " + solution, then EOS.
"""
from __future__ import annotations

PROMPT_TEMPLATE = "Question: {question}\nAnswer:"


def zero_shot_prompt(question: str) -> str:
    return PROMPT_TEMPLATE.format(question=question)


def completion_text(solution: str) -> str:
    """What a model should write after the prompt (EOS is added at tokenization)."""
    return " " + solution
