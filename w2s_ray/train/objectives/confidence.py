"""logconf: Burns et al.'s auxiliary confidence loss over a choice's options, on {input_ids, choice_ids,
weak_probs} rows (train/confidence.py, train/confidence_worker.py)."""
from w2s_ray.train.confidence import CONFIDENCE_FIELDS, validate_confidence_rows
from w2s_ray.train.confidence_worker import confidence_loop
from w2s_ray.train.objectives import register_objective

register_objective("logconf", loop=confidence_loop, rows=validate_confidence_rows, columns=CONFIDENCE_FIELDS)
