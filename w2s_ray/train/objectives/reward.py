"""reward, process_reward(_step_end): the outcome and process reward models (train/reward_worker.py,
train/reward_rows.py); their checkpoints are what score/reward_models.py loads."""
from w2s_ray.train.objectives import register_objective
from w2s_ray.train.preference import PAIR_FIELDS
from w2s_ray.train.reward_rows import STEP_FIELDS, validate_process_reward_rows, validate_reward_rows
from w2s_ray.train.reward_worker import outcome_rm_loop, process_rm_loop, process_rm_step_end_loop

register_objective("reward", loop=outcome_rm_loop, rows=validate_reward_rows, columns=PAIR_FIELDS)
register_objective("process_reward", loop=process_rm_loop, rows=validate_process_reward_rows,
                   columns=STEP_FIELDS)
# The same rows, the loss on each step's end token only (ours; "process_reward" labels every token).
register_objective("process_reward_step_end", loop=process_rm_step_end_loop, rows=validate_process_reward_rows,
                   columns=STEP_FIELDS)
