"""Stage keys and labels of the multi_capability recipe, shared by recipe.py and report.py (the report
reads the bootstrap sample stages by key: they hold the diversity it reports, and carry no tag role)."""
from __future__ import annotations

FULL_WEAK_FT = "full_weak_ft"
TWO_STAGE = "rm two-stage"
RM_SELECT = "rm/select"
RM_JUDGE = "rm/judge"  # the kept solutions judged against gold, for the report only


def only(capability: str) -> str:
    """The label of the student trained on one capability's weak data alone."""
    return f"only {capability}"


def round_label(r: int) -> str:
    return f"bootstrap round {r}"


def sample_key(r: int) -> str:
    """The stage where the round-r student samples the strong half (its confidence and diversity)."""
    return f"bootstrap/round_{r}/sample"


LOGCONF = "logconf"  # the confidence-loss student, scored over the options
PLAIN_CE = "plain ce"  # its pair: the same rows, aux weight 0
