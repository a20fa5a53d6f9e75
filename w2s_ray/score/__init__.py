"""Score stage: the Scorer contract, the built-in scorers, and the functions that run them.

Importing this package does not import Ray (w2s_ray.raycluster.runtime must set Ray's environment first).
"""
from w2s_ray.text.answers import extract_answer, normalize_answer, parse_number
from w2s_ray.score.base import (
    Scorer,
    UnknownScorerError,
    get_scorer,
    object_column,
    register,
)
from w2s_ray.score.stage import ScorerSpec, run_scorer, score_dataset, score_rows

__all__ = [
    "Scorer", "ScorerSpec", "UnknownScorerError", "extract_answer",
    "get_scorer", "normalize_answer", "object_column", "parse_number", "register", "run_scorer",
    "score_dataset", "score_rows",
]
