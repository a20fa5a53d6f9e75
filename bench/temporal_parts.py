"""Where a run's temporal answers go wrong (issue 28): per eval stage, how many completions restate the
question's statements exactly (each as "A < B" / "A came before B.", in the question's order), how many
walk them exactly (from the first person asked, to the other or to the chain's end), and both. Reads
the target format ("A < B." steps, "--", the walk, "=> A"; the line-a-step layout of before 2026-12-08
too) and the corpus's prose ("So:" between the two).

  PYTHONPATH=$PWD python bench/temporal_parts.py runs/demo-multicap [stage ...]
  PYTHONPATH=$PWD python bench/temporal_parts.py --model world-student-multicap-t64  # a built student, its prose

With --model, the student answers the demo's 100 temporal test problems zero-shot here (greedy, the
strong prompt, transformers on CPU), as bench/multicap_latent_skill.py --model does.

Default stages: the strong base (prose), the ceiling, the weak teacher, full weak FT.
Measured 2026-12-07 (runs/demo-multicap, world-student-multicap rebuilt with the restating), of 100:
strong base restated 99, walked 7; ceiling restated 3, walked 3; weak teacher 0 / 2; full weak FT 0 / 3.
"""
from __future__ import annotations

import re
import sys

from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output

LINK = re.compile(r"(\w+) arrived (before|after) (\w+)\.")
ASKED = re.compile(r"first, (\w+) or (\w+)\?")
TARGET_LINK = re.compile(r"(\w+) < (\w+)")
PROSE_LINK = re.compile(r"(\w+) came before (\w+)\.")
STAGES = ("baselines/strong_base/eval", "baselines/ceiling/eval", "baselines/weak/weak-multicap/eval",
          "baselines/full_weak_ft/eval")


def gold_parts(question: str) -> tuple[list, list]:
    links = [(a, b) if d == "before" else (b, a) for a, d, b in LINK.findall(question)]
    x, y = ASKED.search(question).groups()
    after, walk, at = dict(links), [], x
    while at != y and at in after:
        walk.append((at, after[at]))
        at = after[at]
    if at != y:
        walk.append((at, None))
    return links, walk


def written_parts(text: str) -> tuple[list, list]:
    if "--" in text:
        head, _, tail = text.partition("--")
        walk = [(a, None if b == "none" else b) for a, b in TARGET_LINK.findall(tail)]
        return TARGET_LINK.findall(head), walk
    head, _, tail = text.partition("So:")
    return PROSE_LINK.findall(head), [*PROSE_LINK.findall(tail),
                                      *((a, None) for a in re.findall(r"No one came after (\w+)\.", tail))]


def answer_right(text: str, gold: str) -> bool:
    """The last "answer is X" / "=> X" of the text is gold (the prose's and the target's answer alike)."""
    return bool(m := re.findall(r"(?:answer is|=>) (\w+)", text)) and m[-1] == gold


def count(pairs) -> str:
    restated = walked = both = right = n = 0
    for question, text, gold in pairs:
        (links, walk), (r_links, r_walk) = gold_parts(question), written_parts(text)
        n += 1
        restated += r_links == links
        walked += r_walk == walk
        both += r_links == links and r_walk == walk
        right += answer_right(text, gold)
    return f"{n} temporal, restated exactly {restated}, walked exactly {walked}, both {both}, answer right {right}"


def model_pairs(name: str, max_tokens: int = 160) -> list[tuple[str, str, str]]:
    from bench.multicap_latent_skill import greedy_answers, load_demo_student
    from w2s_ray.recipes.multi_capability.data import per_capability

    tokenizer, model, config = load_demo_student(name)
    problems = per_capability(config.multi_capability, config.data.seed)["temporal"]["test"]
    return [(p.question, text, p.gold) for p, text in greedy_answers(tokenizer, model, config, problems, max_tokens)]


def main() -> None:
    if sys.argv[1] == "--model":
        print(f"model {sys.argv[2]}: {count(model_pairs(sys.argv[2]))}")
        return
    run_dir, stages = sys.argv[1], sys.argv[2:] or STAGES
    manifest = Manifest.load(run_dir)
    for stage in stages:
        rows = [r for r in read_output(manifest.record(stage)["outputs"]["rows"]) if r.get("capability") == "temporal"]
        print(f"{stage}: {count((r['question'], r['text'], r['gold']) for r in rows)}")


if __name__ == "__main__":
    main()
