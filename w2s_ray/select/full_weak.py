"""Full weak fine-tuning (Burns et al. 2023, METHODS.md section 7): the baseline every method must beat.

Every weak solution becomes an SFT row, all teachers and all samples, with no filtering by answer:
the baseline trains on everything the teachers wrote, including solutions that state no final
answer (an empty `answer` is kept). Only rows with no text at all are dropped ("empty_text"), since
an empty completion teaches nothing but to stop. Accounting is per solution (generation row).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from w2s_ray.select.selection import Selection, check_role, first_samples, sft_row


def take_all(weak_rows: Sequence[dict]) -> Selection:
    check_role(weak_rows, "weak", "weak_rows")
    # Keyed by (model, problem, sample) only to refuse repeated rows, as the filter does.
    unique = first_samples(weak_rows, ("model", "problem_id", "sample_index"))
    rows, per_teacher = [], {}
    for (model, _, _), gen in sorted(unique.items()):
        counts = per_teacher.setdefault(model, {"kept": 0, "dropped": Counter()})
        if (gen["text"] or "").strip():
            rows.append(sft_row(gen, "weak"))
            counts["kept"] += 1
        else:
            counts["dropped"]["empty_text"] += 1
    by_teacher = {t: {"kept": c["kept"], "dropped": dict(c["dropped"])} for t, c in sorted(per_teacher.items())}
    n_in = len(unique)
    return Selection(rows=rows, n_in=n_in, kept=len(rows), dropped={"empty_text": n_in - len(rows)},
                     unit="solution", by_teacher=by_teacher)
