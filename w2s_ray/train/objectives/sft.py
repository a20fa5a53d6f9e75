"""sft: TRL SFTTrainer on {prompt, completion} rows (train/sft.py, train/sft_worker.py)."""
from w2s_ray.train.objectives import register_objective
from w2s_ray.train.sft import validate_sft_rows
from w2s_ray.train.sft_worker import sft_loop

register_objective("sft", loop=sft_loop, rows=validate_sft_rows, columns=("prompt", "completion"))
