"""The training text of the models built here: the zero-shot prompt every model in the system sees
(defined once, in w2s_ray.generate.prompts) and the completion that follows it.

Zero-shot prompt: "Question: {question}\nAnswer:"; the target continuation is " " + solution, then EOS.
"""
from __future__ import annotations

from w2s_ray.generate.prompts import TEMPLATE as PROMPT_TEMPLATE  # noqa: F401  (re-exported)
from w2s_ray.generate.prompts import zero_shot as zero_shot_prompt  # noqa: F401  (re-exported)


def completion_text(solution: str) -> str:
    """What a model should write after the prompt (EOS is added at tokenization)."""
    return " " + solution
