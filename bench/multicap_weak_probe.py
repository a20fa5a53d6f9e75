"""weak-multicap (or another model of every capability) greedy on configs/demo-multicap.yaml's test split and
strong half, in-process with the HF engine's generator (no Ray): accuracy per capability and, for the choice
capabilities, how many answers carry their marker and name an option (what the logconf rows need).

  PYTHONPATH=$PWD python bench/multicap_weak_probe.py [MODEL]
"""
import json, sys, time
from collections import defaultdict
import numpy as np
from w2s_ray.config import load_config
from w2s_ray.generate.hf_engine import HFGenerator
from w2s_ray.models.built_in import built_in
from w2s_ray.recipes.multi_capability import data as mc_data
from w2s_ray.recipes.multi_capability.choice_rows import MARKS, option_index, options
from w2s_ray.text.prompts import zero_shot
from w2s_ray.text.answers import extract_answer, normalize_answer
from w2s_ray.text.capability_answers import check_capability_answer

config = load_config("configs/demo-multicap.yaml")
model = sys.argv[1] if len(sys.argv) > 1 else "weak-multicap"
path = built_in(model).build(None)
teacher = config.weak[0].model_copy(update={"max_tokens": config.eval.max_tokens, "n": 1, "temperature": 0.0})
gen = HFGenerator(str(path), teacher.model_dump(), "cpu")
per = mc_data.per_capability(config.multi_capability, config.data.seed)
out = {}
t0 = time.time()
for split in ("test", "strong_train"):
    stats = defaultdict(lambda: {"n": 0, "right": 0, "marker": 0, "option": 0})
    for cap, parts in per.items():
        problems = parts[split]
        for i in range(0, len(problems), 32):
            chunk = problems[i:i + 32]
            res = gen({"prompt": np.array([zero_shot(p.question) for p in chunk], dtype=object)})
            for p, text in zip(chunk, res["text"]):
                s = stats[cap]
                s["n"] += 1
                if cap == "arithmetic":
                    a = extract_answer(text)
                    s["right"] += bool(a) and normalize_answer(a) == normalize_answer(p.gold)
                else:
                    s["right"] += check_capability_answer(cap, p.gold, text)
                if cap in MARKS:
                    s["marker"] += MARKS[cap] in text
                    s["option"] += option_index(cap, options(cap, p.question), text) is not None
                if s["n"] <= 1 and split == "test":
                    print(cap, repr(p.question[:120]), "->", repr(text[:200]), "gold", p.gold, flush=True)
    out[split] = {cap: {**s, "acc": s["right"] / s["n"]} for cap, s in stats.items()}
    print(split, json.dumps(out[split]), round(time.time() - t0), "s", flush=True)
