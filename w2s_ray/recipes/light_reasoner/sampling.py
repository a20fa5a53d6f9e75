"""How the expert is prompted and where its samples stop, as the authors do it.

The authors (HKUDS/LightReasoner, LightR_sampling.py lines 84-98) wrap each question in the expert's
chat template, with the system prompt "Please reason step by step.", and generate 128 new tokens or
up to EOS with no stop string. The run's Question/Answer template and the teacher stops
["\\n\\n", "Question:"] would end a hub model's solution at its first blank line, its first
paragraph. `prompt_format: auto` takes the authors' way wherever the expert's tokenizer has a chat
template (a hub model); the testbed's world models have none and were trained on the
Question/Answer template, so they keep it, with every stop that matches a blank line dropped.

The same prompt is used everywhere the expert reads a question in this recipe: its samples (so the
contrast and the soft-label prefixes are the chat-formatted prefixes the authors train on), the
RS-SFT rows and the three evaluations, so that base, LightReasoner and RS-SFT are compared in the
format they were trained in.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from w2s_ray.config import TeacherConfig

BLANK_LINE = re.compile(r"\n[ \t]*\n")  # what text/steps.py splits paragraph steps at


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_format(prompt_format: str, tokenizer) -> str:
    """"chat" or "plain" for this expert; "chat" without a template is refused, naming the fix."""
    if prompt_format == "auto":
        return "chat" if has_chat_template(tokenizer) else "plain"
    if prompt_format == "chat" and not has_chat_template(tokenizer):
        raise ValueError("light_reasoner.prompt_format is 'chat' but the expert's tokenizer has no chat "
                         "template; use 'auto' or 'plain'")
    return prompt_format


def chat_prompt(tokenizer, question: str, system_prompt: str) -> str:
    """The authors' prompt (LightR_sampling.py lines 84-90), as text: the engines tokenize it."""
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def with_prompts(problems: Sequence[dict], tokenizer, system_prompt: str) -> list[dict]:
    """The problems, each with its chat `own_prompt` (generate/stage.py uses it as the prompt)."""
    return [{**p, "own_prompt": chat_prompt(tokenizer, p["question"], system_prompt)} for p in problems]


def stops(fmt: str, configured: list[str] | None, teacher_stops: Sequence[str]) -> list[str]:
    """The sampler's stop strings: the configured ones if given; else none with a chat template (the
    authors'), and the teacher's without those that match a blank line on the plain template."""
    if configured is not None:
        return list(configured)
    if fmt == "chat":
        return []
    return [s for s in teacher_stops if not BLANK_LINE.search(s)]


def expert_teacher(teacher: TeacherConfig, fmt: str, configured_stop: list[str] | None) -> TeacherConfig:
    """The teacher with this recipe's stops; zero-shot (a chat prompt is one question, no demos)."""
    return teacher.model_copy(update={"shots": 0, "stop": stops(fmt, configured_stop, teacher.stop)})
