"""LightReasoner's sampling (recipes/light_reasoner/sampling.py): the authors'
chat prompt and no stop strings for an expert with a chat template (HKUDS/LightReasoner
LightR_sampling.py lines 84-98 at fbd55c7dd105dde45f87c621006b03b7668fe279), the testbed's template
without blank-line stops for one without, and the same prompt in the requests and the RS-SFT rows.
The tokenizer is the tiny test models' (tests/conftest.py), given a chat template in memory."""
from __future__ import annotations

import pytest

from w2s_ray.config import TeacherConfig
from w2s_ray.generate.stage import build_requests
from w2s_ray.recipes.light_reasoner import sampling
from w2s_ray.recipes.light_reasoner.config import LightReasonerConfig
from w2s_ray.recipes.light_reasoner.select import rejection_sampling_sft
from w2s_ray.text.prompts import zero_shot

CHAT = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}")


@pytest.fixture(scope="module")
def tokenizers(tiny_models):
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(tiny_models[1])
    chat = AutoTokenizer.from_pretrained(tiny_models[1])
    chat.chat_template = CHAT
    return plain, chat


def test_auto_takes_the_chat_template_where_the_expert_has_one(tokenizers):
    plain, chat = tokenizers
    assert LightReasonerConfig().prompt_format == "auto"
    assert sampling.resolve_format("auto", plain) == "plain"  # the testbed's world models
    assert sampling.resolve_format("auto", chat) == "chat"
    assert sampling.resolve_format("plain", chat) == "plain"
    with pytest.raises(ValueError, match="no chat template"):
        sampling.resolve_format("chat", plain)


def test_the_chat_prompt_is_the_authors_system_prompt_and_question_then_the_assistant_turn(tokenizers):
    prompt = sampling.chat_prompt(tokenizers[1], "Ada has 3. How many?", LightReasonerConfig().system_prompt)
    assert prompt == ("<system>Please reason step by step.</system>\n<user>Ada has 3. How many?</user>\n"
                      "<assistant>")


def test_no_stop_with_a_chat_template_and_no_blank_line_stop_on_the_plain_template():
    teacher = TeacherConfig(name="s", model="m")
    assert "\n\n" in teacher.stop  # the run's default, which ends a paragraph-step solution at step 1
    assert sampling.stops("chat", None, teacher.stop) == []
    assert sampling.stops("plain", None, teacher.stop) == ["Question:"]
    assert sampling.stops("plain", None, ["\n \n", "###"]) == ["###"]
    assert sampling.stops("chat", ["</s>"], teacher.stop) == ["</s>"]  # a configured list is kept
    expert = sampling.expert_teacher(teacher.model_copy(update={"shots": 3}), "chat", None)
    assert expert.stop == [] and expert.shots == 0


def test_requests_carry_the_chat_prompt_and_no_stop(tokenizers):
    problems = [{"id": "p1", "question": "Ada has 3. How many?", "gold": "3", "level": 1}]
    rows = sampling.with_prompts(problems, tokenizers[1], "Please reason step by step.")
    expert = sampling.expert_teacher(TeacherConfig(name="s", model="m"), "chat", None)
    request = build_requests(rows, expert, None)[0]
    assert request["prompt"] == rows[0]["own_prompt"] and request["prompt"].endswith("<assistant>")
    assert request["sampling_params"]["stop"] == []
    # without a prompt of its own a problem gets the run's template, as before
    assert build_requests(problems, expert, None)[0]["prompt"] == zero_shot(problems[0]["question"])


def test_rs_sft_rows_keep_the_prompt_they_were_sampled_with():
    samples = [{"problem_id": "p1", "model": "expert", "sample_index": 0, "prompt": "<user>Q</user>\n<assistant>",
                "question": "Q", "text": "3 + 4 = 7\n\n#### 7", "correct": True, "level": 1, "answer": "7"},
               {"problem_id": "p2", "model": "expert", "sample_index": 0, "prompt": "<user>R</user>\n<assistant>",
                "question": "R", "text": "#### 1", "correct": False, "level": 1, "answer": "1"}]
    chat = rejection_sampling_sft(samples, sampled_prompt=True)
    assert [(r["prompt"], r["completion"]) for r in chat.rows] == [("<user>Q</user>\n<assistant>", "3 + 4 = 7\n\n#### 7")]
    plain = rejection_sampling_sft(samples)
    assert [(r["prompt"], r["completion"]) for r in plain.rows] == [(zero_shot("Q"), " 3 + 4 = 7\n\n#### 7")]
