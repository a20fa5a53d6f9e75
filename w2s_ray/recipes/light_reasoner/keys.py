"""The stage keys of the light_reasoner recipe, named once: recipe.py runs the stages under them,
report.py reads their records (the untagged sampling and contrast stages have no tag to be found by)."""
SAMPLE = "light_reasoner/sample"
BASE_EVAL = "baselines/strong_base/eval"
CONTRAST, SELECT, TRAIN, EVAL = (f"light_reasoner/{s}" for s in ("contrast", "select", "train", "eval"))
RS_SELECT, RS_TRAIN, RS_EVAL = (f"rs_sft/{s}" for s in ("select", "train", "eval"))
