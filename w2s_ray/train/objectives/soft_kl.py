"""soft_kl: LightReasoner's KL to sparse soft targets on {input_ids, target_ids, target_probs} rows
(train/soft_label.py, train/soft_label_worker.py), at each row's last non-pad position;
soft_kl_index_minus_1: the same at index -1 of the right-padded batch, as the authors' code reads it."""
from w2s_ray.train.objectives import register_objective
from w2s_ray.train.soft_label import SOFT_LABEL_FIELDS, validate_soft_label_rows
from w2s_ray.train.soft_label_worker import soft_label_loop, soft_label_loop_index_minus_1

register_objective("soft_kl", loop=soft_label_loop, rows=validate_soft_label_rows,
                   columns=SOFT_LABEL_FIELDS)
register_objective("soft_kl_index_minus_1", loop=soft_label_loop_index_minus_1, rows=validate_soft_label_rows,
                   columns=SOFT_LABEL_FIELDS)
