"""Select stage: pure functions from scored generation rows to training rows.

consistency_filter  weak and strong answers agree -> SFT rows (weak-to-strong reasoning, Stage I)
take_all            every weak solution -> SFT rows (full weak fine-tuning baseline)
gold_sft            a split's gold solutions -> SFT rows (the ceiling baseline; weak teachers' own SFT)
build_preference_pairs  student majority vote vs weak solution -> DPO pairs (Stage II)
selection_quality   share of selected answers that match gold (reporting only)

Selection functions never read gold labels; see selection.py.
"""
from w2s_ray.select.consistency import consistency_filter
from w2s_ray.select.full_weak import take_all
from w2s_ray.select.gold import gold_sft
from w2s_ray.select.preference import PREFERENCE_COLUMNS, build_preference_pairs
from w2s_ray.select.quality import selection_quality
from w2s_ray.select.selection import SFT_COLUMNS, Selection, canonical_sha256, sft_row

__all__ = ["PREFERENCE_COLUMNS", "SFT_COLUMNS", "Selection", "build_preference_pairs", "canonical_sha256",
           "consistency_filter", "gold_sft", "selection_quality", "sft_row", "take_all"]
