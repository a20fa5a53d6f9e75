"""The confidence loss's rows from the weak teachers' answers to a choice capability (train/confidence.py,
`logconf`), and the prompt the options are read after, for training and for scoring alike.

A choice capability is one whose Capability has `choices` (temporal's two names, logic's verdicts,
facts' letters). Its prompt here is the zero-shot prompt followed by the answer marker ("Question: ...
\nAnswer: Verdict:"): a logconf student learns only the option token after it, never the steps, so
it is scored over the options (score/option_choice.py), not by generating.

A weak teacher's samples of one problem give one row: the options' vote shares among the samples whose
answer parses to an option (a single greedy sample: a one-hot label). A sample that states no option is
quarantined: counted under `unparseable` and listed in the selection's `extra["quarantined"]`; a
problem none of whose samples parses gives no row (`no_parsed_answer`). Answers are only parsed as
strings (text/capability_answers.py).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from w2s_ray.recipes.multi_capability.data import capability_of
from w2s_ray.score.option_choice import option_token_ids  # the rows' rule is the scorer's
from w2s_ray.select.selection import Selection, _as_int
from w2s_ray.text.capability_answers import FACTS_MARK, LOGIC_MARK, TEMPORAL_MARK, capability_answer, normalise
from w2s_ray.text.prompts import zero_shot

MARKS = {"temporal": TEMPORAL_MARK, "logic": LOGIC_MARK, "facts": FACTS_MARK}
QUARANTINE_TEXT_CHARS = 200  # of each quarantined sample's text, kept in the selection's record


def is_choice(capability: str) -> bool:
    from w2s_ray.data.capabilities import CAPABILITIES

    # arithmetic (the world's own, answered by a number) is no registered capability
    return capability in CAPABILITIES.names() and CAPABILITIES.get(capability).choices is not None


def options(capability: str, question: str) -> tuple[str, ...]:
    from w2s_ray.data.capabilities import get_capability

    return tuple(get_capability(capability).choices(question))


def choice_prompt(capability: str, question: str) -> str:
    """The prompt whose next token is the option: the zero-shot prompt and the capability's marker."""
    if capability not in MARKS:
        raise ValueError(f"no answer marker for capability {capability!r}; choice capabilities: {sorted(MARKS)}")
    return f"{zero_shot(question)} {MARKS[capability]}"


def option_index(capability: str, opts: Sequence[str], text: str | None) -> int | None:
    """The index of the option `text` states in its capability's format, None where it states none."""
    answer = capability_answer(capability, text if isinstance(text, str) else "")
    wanted = [normalise(o) for o in opts]
    return wanted.index(answer) if answer and answer in wanted else None


def weak_choice_rows(generations: Iterable[dict], encode: Callable[[str], list[int]],
                     tokenize_option: Callable[[str], list[int]]) -> Selection:
    """{problem_id, source_model, capability, level, input_ids, choice_ids, weak_probs} per (choice problem,
    weak teacher); unit "solution" (every sample is accounted for: kept, unparseable, or not a choice).
    `encode`: a prompt's token ids; `tokenize_option`: an option text's ids, without special tokens."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    dropped, quarantined, n_in = Counter(), [], 0
    for r in generations:
        n_in += 1
        if not is_choice(capability_of(r)):
            dropped["not_a_choice"] += 1
            continue
        groups[(str(r["problem_id"]), str(r["model"]))].append(r)
    rows, kept = [], 0
    for (pid, model), group in sorted(groups.items()):
        group.sort(key=lambda r: _as_int(r.get("sample_index")) or 0)
        cap, question = capability_of(group[0]), group[0]["question"]
        opts = options(cap, question)
        votes = Counter()
        for r in group:
            k = option_index(cap, opts, r.get("text"))
            if k is None:
                dropped["unparseable"] += 1
                quarantined.append({"problem_id": pid, "model": model, "sample_index": r.get("sample_index"),
                                    "text": str(r.get("text") or "")[:QUARANTINE_TEXT_CHARS]})
            else:
                votes[k] += 1
        if not votes:
            dropped["no_parsed_answer"] += 1  # problems, beside their samples' `unparseable`
            continue
        n = sum(votes.values())
        kept += n
        rows.append({"problem_id": pid, "source_model": model, "capability": cap, "level": group[0].get("level"),
                     "input_ids": list(encode(choice_prompt(cap, question))),
                     "choice_ids": option_token_ids(tokenize_option, opts),
                     "weak_probs": [votes[k] / n for k in range(len(opts))]})
    # no_parsed_answer counts problems, not samples: it is reported beside the sample accounting
    no_answer = dropped.pop("no_parsed_answer", 0)
    return Selection(rows, n_in=n_in, kept=kept, dropped=dict(dropped), unit="solution",
                     extra={"quarantined": quarantined, "problems_without_parsed_answer": no_answer})
