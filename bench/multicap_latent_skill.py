"""Has the strong student a capability's skill in its own dress? Its zero-shot answers in the run's
strong-base evaluation, read the corpus's way ("So the answer is X." after a prose solution), against
gold, per capability; beside chance for the choice capabilities. The recipe's checker reads only the
target format, so the report's strong-base row is 0 % wherever the format is new, skill or none: this
is the measurement that tells the two apart, from rows a run already has (nothing is generated here).

  PYTHONPATH=$PWD python bench/multicap_latent_skill.py runs/demo-multicap [more run dirs]

A run dir with `baselines/strong_base/eval` (configs/demo-multicap.yaml writes it). Or, before any
run, a built student generates here (greedy, the strong prompt "Question: ...\nAnswer:", the demo's
test split, transformers on CPU):

  PYTHONPATH=$PWD python bench/multicap_latent_skill.py --model world-student-multicap [--per-cap 100]

Prose answers are
normalised as the capability reads them: commands' comma lists as the target's upper-case actions,
a facts place as the letter of the option that names it.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict

from w2s_ray.recipes.multi_capability.data import capability_of
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output

PROSE_ANSWER = re.compile(r"answer is ([^.\n]+)")
OPTION = re.compile(r"\(([A-D])\) ([a-z]+)")
STRONG_BASE_EVAL = "baselines/strong_base/eval"
CHANCE = {"temporal": 1 / 2, "logic": 1 / 3, "facts": 1 / 4}


def prose_answer(text: str) -> str | None:
    found = PROSE_ANSWER.findall(text)
    return found[-1].strip() if found else None


def as_target(capability: str, answer: str, question: str) -> str:
    if capability == "commands":
        return " ".join(a.strip().upper() for a in answer.replace(",", " ").split())
    if capability == "facts":
        if lettered := OPTION.fullmatch(answer.strip()):  # "(C) river": the corpus's exam answer
            return lettered.group(1)
        places = {place: letter for letter, place in OPTION.findall(question)}
        return places.get(answer.strip().lower(), answer.strip().upper())
    return answer.strip().lower()


def latent_skill(run_dir: str) -> dict[str, dict]:
    manifest = Manifest.load(run_dir)
    if not manifest.is_complete(STRONG_BASE_EVAL):
        raise SystemExit(f"{run_dir}: no finished {STRONG_BASE_EVAL}")
    counts = defaultdict(lambda: {"n": 0, "prose_answer": 0, "right": 0})
    for row in read_output(manifest.record(STRONG_BASE_EVAL)["outputs"]["rows"]):
        score(counts, capability_of(row), row["text"], row["gold"], row["question"])
    return dict(counts)


def score(counts: dict, cap: str, text: str, gold, question: str) -> None:
    c = counts[cap]
    c["n"] += 1
    answer = prose_answer(text)
    if answer is None:
        return
    c["prose_answer"] += 1
    gold = str(gold).strip().lower() if cap not in ("commands", "facts") else str(gold).strip().upper()
    c["right"] += as_target(cap, answer, question) == gold


def load_for_generation(path):
    """(tokenizer, model) of a model directory, for batched greedy generation here (left padding,
    float32, 2 threads)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return tokenizer, AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def demo_config():
    """configs/demo-multicap.yaml: the splits and stops every --model measurement uses."""
    from w2s_ray.config.loading import load_config

    return load_config("configs/demo-multicap.yaml")


def load_demo_student(name: str):
    """(tokenizer, model, config): the built student `name` for greedy generation here, and the demo's
    config (its splits and stops)."""
    from w2s_ray.models.strong_student import build_strong_student

    return (*load_for_generation(build_strong_student(name)), demo_config())


def greedy_answers(tokenizer, model, config, problems, max_tokens: int, batch: int = 50):
    """(problem, text) per problem: zero-shot with the strong prompt, greedy, cut at the strong stops."""
    import torch

    from w2s_ray.generate.hf_engine import truncate_at_stop
    from w2s_ray.text.prompts import zero_shot

    for i in range(0, len(problems), batch):
        part = problems[i:i + batch]
        enc = tokenizer([zero_shot(p.question) for p in part], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        for p, row in zip(part, out):
            text = tokenizer.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True)
            yield p, truncate_at_stop(text, list(config.strong.stop))


def model_skill(name: str, per_cap: int, max_tokens: int = 96) -> dict[str, dict]:
    """Zero-shot prose answers of the built student `name` on the demo's test split."""
    from w2s_ray.recipes.multi_capability.data import per_capability

    tokenizer, model, config = load_demo_student(name)
    counts = defaultdict(lambda: {"n": 0, "prose_answer": 0, "right": 0})
    for cap, parts in per_capability(config.multi_capability, config.data.seed).items():
        for p, text in greedy_answers(tokenizer, model, config, parts["test"][:per_cap], max_tokens):
            score(counts, cap, text, p.gold, p.question)
    return dict(counts)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--model"]:
        per_cap = int(args[args.index("--per-cap") + 1]) if "--per-cap" in args else 100
        sources = [(f"model {args[1]}", lambda: model_skill(args[1], per_cap))]
    else:
        sources = [(run_dir, lambda run_dir=run_dir: latent_skill(run_dir)) for run_dir in args or ["runs/demo-multicap"]]
    for label, measure in sources:
        print(f"## {label}: the strong base's prose answers (zero-shot), per capability")
        for cap, c in sorted(measure().items()):
            chance = f"chance {100 * CHANCE[cap]:.0f} %" if cap in CHANCE else ""
            print(f"  {cap:11s} n={c['n']:4d}  with a prose answer {c['prose_answer']:4d}  "
                  f"right {100 * c['right'] / c['n']:5.1f} %  {chance}")


if __name__ == "__main__":
    main()
