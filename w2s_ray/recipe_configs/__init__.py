"""Each recipe's own config sections, one module per recipe, below config.py.

RunConfig holds the sections common to every recipe (data, teachers, scorers, train, eval, serve) and
one optional field per recipe section; a section given for a recipe other than the configured one is
an error (config.RunConfig._sections_of_this_recipe). A new recipe adds its module here, its entry
below, its name to RunConfig.recipe and its section field to RunConfig.

A recipe's module may define `plan_asks(config, asks) -> list[Ask]`: what its own stages ask of the
cluster beyond the stages every recipe shares (`w2s plan`; asks is a plan.StageAsks). Its report
section, if any, registers in eval/report_sections.py.
"""
from __future__ import annotations

# recipe name -> the RunConfig fields that belong to it
RECIPE_SECTIONS: dict[str, tuple[str, ...]] = {
    "w2s_reasoning": ("stage2",),
    "easy_to_hard": ("easy_to_hard",),
    "supervision_mix": ("supervision_mix",),
    "light_reasoner": ("light_reasoner",),
}
