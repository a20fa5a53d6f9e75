"""option_choice: a causal LM scored as a classifier over a choice question's options.

For each row (a test problem of a choice capability, with its `prompt`, `options` and answer `mark`
written by recipes/multi_capability/logconf_baseline.py), the model's log-probability of each option's answer token after the choice prompt ("...\nAnswer: Verdict:"),
read from one forward pass over a batch of prompts (right-padded, each read at its last real token);
the argmax is the prediction. A student trained with `logconf` learns only that token, so generating
would not measure it. Columns: `option_logprobs` (a list per row, in the options' order), `text`
("Verdict: yes", the prediction in the target format, so the capability's checker reads it as it reads
a generation), `answer` (the option, normalised) and `correct` (against `gold`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from w2s_ray.score.base import Batch, object_column, register, require_column
from w2s_ray.score.reward_models import _ModelScorer, _padded


def option_token_ids(tokenize: Callable[[str], list[int]], opts: Sequence[str]) -> list[int]:
    """Each option's answer text (" yes", " B") as its one token id; an option the tokenizer splits is an
    error (the loss and the scorer read one logit per option)."""
    ids = []
    for o in opts:
        tokens = tokenize(" " + o)
        if len(tokens) != 1:
            raise ValueError(f"option {o!r} is {len(tokens)} tokens {tokens}, not one: the confidence loss and "
                             "the option scorer read one token per option")
        ids.append(tokens[0])
    return ids


def option_logprobs(model, prompts: list[list[int]], choice_ids: list[list[int]], pad_id: int, device: str = "cpu"):
    """[[log P(option k | prompt)] per prompt]: one forward pass over the right-padded prompts."""
    import torch

    ids, mask = _padded(prompts, pad_id)
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
    last = torch.tensor([len(p) - 1 for p in prompts], device=logits.device)
    logprobs = torch.log_softmax(logits[torch.arange(len(prompts), device=logits.device), last].float(), dim=-1)
    return [[float(logprobs[i, t]) for t in choices] for i, choices in enumerate(choice_ids)]


@register("option_choice")
class OptionChoiceScorer(_ModelScorer):
    columns = ("option_logprobs", "text", "answer", "correct")
    auto_class = "AutoModelForCausalLM"

    def __call__(self, batch: Batch) -> Batch:
        # The recipe writes each row's prompt, options and answer marker (recipes/multi_capability/
        # logconf_baseline.py): the capabilities live in data/, which this layer does not import.
        from w2s_ray.text.capability_answers import check_capability_answer

        prompt_texts = require_column(batch, "prompt", self.name)
        option_lists = require_column(batch, "options", self.name)
        marks = require_column(batch, "mark", self.name)
        capabilities = require_column(batch, "capability", self.name)
        golds = require_column(batch, "gold", self.name)
        prompts, choices, opts = [], [], []
        for text, row_options in zip(prompt_texts, option_lists):
            opts.append(tuple(str(o) for o in row_options))
            prompts.append(self.tokenizer(str(text))["input_ids"][-self.max_length:])
            choices.append(option_token_ids(lambda s: self.tokenizer(s, add_special_tokens=False)["input_ids"], opts[-1]))
        scores = []
        for start in range(0, len(prompts), self.forward_batch_size):
            end = start + self.forward_batch_size
            scores += option_logprobs(self.model, prompts[start:end], choices[start:end], self.pad_id, self.device)
        picked = [o[int(np.argmax(s))] for o, s in zip(opts, scores)]
        texts = [f"{mark} {p}" for mark, p in zip(marks, picked)]
        return {"option_logprobs": object_column(scores), "text": np.array(texts, dtype=object),
                "answer": np.array([p.lower() for p in picked], dtype=object),
                "correct": np.array([check_capability_answer(str(c), g, t) for c, g, t in
                                     zip(capabilities, golds, texts)], dtype=bool)}
