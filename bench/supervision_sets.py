"""The supervision sets of configs/demo-mix.yaml as the recipe builds them, measured without training:
the numbers its mix/NAME/errors stages record. `python bench/supervision_sets.py` (builds the
demo splits first, as a run does)."""
from w2s_ray.config import load_config
from w2s_ray.data.sources import load_splits
from w2s_ray.recipes.supervision_mix.error_control import build_mix
from w2s_ray.recipes.supervision_mix.subtasks import hard_set, rephrased_set, subtask_set

cfg = load_config("configs/demo-mix.yaml")
mc = cfg.supervision_mix
splits, _ = load_splits(cfg.data)
hard = hard_set(splits["weak_train"], mc.hard_levels, mc.n_hard)
parts = {"hard": hard.rows, "subtask": subtask_set(hard.rows, mc.subtask_steps, mc.seed, True).rows,
         "rephrased": rephrased_set(hard.rows, mc.seed).rows}
print("hard", hard.kept, "levels", {l: sum(r["level"] == l for r in hard.rows) for l in (4, 5)},
      "subtask", len(parts["subtask"]), "rephrased", len(parts["rephrased"]))
print("| mix | rows | outcome err % | step err % (gold steps) | step err % (checker) |")
for mix in mc.mixes:
    m = build_mix(parts, mix.parts, mc.seed, True).measurement
    print(f"| {mix.name} | {m['n']} | {100 * m['outcome_error']:.1f} | {100 * m['step_error']:.1f} | {100 * m['checker_step_error']:.1f} |")
