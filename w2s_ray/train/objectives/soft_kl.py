"""soft_kl: LightReasoner's KL to sparse soft targets on {input_ids, target_ids, target_probs} rows
(train/soft_label.py, train/soft_label_worker.py)."""
from w2s_ray.train.objectives import register_objective
from w2s_ray.train.soft_label import validate_soft_label_rows
from w2s_ray.train.soft_label_worker import soft_label_loop

register_objective("soft_kl", loop=soft_label_loop, rows=validate_soft_label_rows)
