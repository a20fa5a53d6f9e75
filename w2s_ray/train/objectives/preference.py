"""dpo, orpo: TRL DPOTrainer / ORPOTrainer on {prompt, chosen, rejected} pairs (train/preference*.py)."""
from w2s_ray.train.objectives import register_objective
from w2s_ray.train.preference import PAIR_FIELDS, validate_preference_rows
from w2s_ray.train.preference_worker import preference_loop

register_objective("dpo", loop=preference_loop, rows=validate_preference_rows, columns=PAIR_FIELDS)
register_objective("orpo", loop=preference_loop, rows=validate_preference_rows, columns=PAIR_FIELDS)
