"""Preference pairs: Stage II of weak-to-strong reasoning (Yang et al. 2024, METHODS.md 1.5-1.6).

The Stage-I student samples each question n times (T=1.0). A majority vote over the normalised final
answers gives the top answer and the confidence c = votes / n. Then, per weak teacher's greedy
solution to that question:
  - skip if c < min_confidence (0.6) or the top answer is empty;
  - weak answer == top answer:  chosen = the weak solution, rejected = a random minority sample
                                (a sample whose answer is not the top answer); skip if there is none;
  - otherwise, if c >= flip_confidence (0.8): chosen = a random majority sample,
                                rejected = the weak solution.
No gold label is read: the student's self-consistency and the weak teacher are the whole signal.

As in the authors' public code (src/construct_training_data.py), empty answers take part in the vote
as an answer of their own: they count in n, a sample with no final answer is a minority sample, and
an empty top answer skips the problem. Two things the public code leaves to chance are made explicit:
a tie for the top (it keeps whichever answer came first) is dropped as `no_majority` (a tie can only
reach c <= 0.5, below the default threshold anyway), and a sample with no text at all is never used as
either side of a pair (an empty completion is only EOS; the trainer refuses it).

Accounting is per (weak teacher, problem): with one teacher, one unit per problem. Several weak
teachers give one candidate pair each, against the same student vote. A dropped unit gets one reason,
the first that applies, in this order:
  weak_missing          this teacher has no solution for the problem
  student_missing       the student has no samples for the problem
  no_parseable_answers  no student sample states a final answer
  no_majority           two or more answers (the empty answer included) tie for the most votes
  empty_top_answer      more samples state no answer than state the most common answer
  low_confidence        c < min_confidence
  no_minority_sample    the weak answer is the top answer, and no sample with text disagrees
  disagree_below_flip   the weak answer differs from the top answer and c < flip_confidence
  weak_empty_text       the weak solution has no text (it would be the rejected side)

Which samples are picked is seeded per (seed, teacher, problem): the same inputs and seed give the
same pairs whatever the input order or which other problems are present.
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

from w2s_ray.select.selection import Selection, _as_int, check_role, group_weak_by_problem, sft_row
from w2s_ray.text.answers import normalize_answer

PREFERENCE_COLUMNS = (
    "problem_id", "prompt", "chosen", "rejected", "source_model", "level", "confidence", "top_answer",
    "case", "chosen_source", "rejected_source", "chosen_answer", "rejected_answer",
)
CASES = ("weak_agrees", "majority_overrules")
DROP_REASONS = (
    "weak_missing", "student_missing", "no_parseable_answers", "no_majority", "empty_top_answer",
    "low_confidence", "no_minority_sample", "disagree_below_flip", "weak_empty_text",
)
# Confidences are ratios of small integers (6/10); a threshold of 0.6 must admit exactly 6 of 10.
_EPS = 1e-9


def build_preference_pairs(
    student_rows: Sequence[dict],
    weak_rows: Sequence[dict],
    *,
    min_confidence: float = 0.6,
    flip_confidence: float = 0.8,
    seed: int = 0,
    max_pairs: int = 1,
) -> Selection:
    """DPO pairs {prompt, chosen, rejected, ...provenance} from the student's samples and weak greedy rows.

    student_rows: every sample of one student model (role "strong"), several per problem_id, told
    apart by sample_index. weak_rows: each weak teacher's solutions (role "weak"); per (teacher,
    problem) the lowest sample_index, the greedy one, is used. Rows are generation rows
    (problem_id, model, role, sample_index, question, text, answer, level); only those are read.
    max_pairs: pairs per (teacher, problem). 1 is the authors' GSM8K rule; 3 their MATH rule
    (construct_paired_data_math): up to 3 minority samples against an agreeing weak solution, or the
    drawn majority sample and then the next majority samples of other text against an overruled one.
    """
    check_preference_args(min_confidence, flip_confidence, max_pairs)
    check_role(student_rows, "strong", "student_rows")
    check_role(weak_rows, "weak", "weak_rows")
    if not weak_rows:
        raise ValueError("build_preference_pairs needs the weak teachers' solutions; weak_rows is empty")
    students = sorted({str(r["model"]) for r in student_rows})
    if len(students) > 1:
        raise ValueError(f"preference pairs come from one student's samples; student_rows hold {students}")

    samples = _samples_by_problem(student_rows)
    weak_by_problem, teachers = group_weak_by_problem(weak_rows)
    problems = sorted(set(samples) | set(weak_by_problem))

    rows: list[dict] = []
    dropped: Counter[str] = Counter()
    per_teacher = {t: {"kept": 0, "dropped": Counter(), "cases": Counter()} for t in teachers}
    for pid in problems:
        group = samples.get(pid, [])
        verdict = _vote(group)
        for teacher in teachers:
            weak = weak_by_problem.get(pid, {}).get(teacher)
            outcome = _pairs(weak, group, verdict, min_confidence, flip_confidence, seed, max_pairs)
            if isinstance(outcome, str):
                dropped[outcome] += 1
                per_teacher[teacher]["dropped"][outcome] += 1
                continue
            rows.extend(outcome)
            per_teacher[teacher]["kept"] += 1
            per_teacher[teacher]["cases"][outcome[0]["case"]] += 1

    by_teacher = {
        t: {"kept": c["kept"], "dropped": dict(sorted(c["dropped"].items())), "cases": dict(sorted(c["cases"].items()))}
        for t, c in per_teacher.items()
    }
    n_in = len(problems) * len(teachers)  # kept and dropped count units; rows, pairs (max_pairs a unit)
    return Selection(rows=rows, n_in=n_in, kept=n_in - sum(dropped.values()), dropped=dict(dropped),
                     unit="teacher_problem", by_teacher=by_teacher)


def check_preference_args(min_confidence: float, flip_confidence: float, max_pairs: int) -> None:
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
    for name, value in (("min_confidence", min_confidence), ("flip_confidence", flip_confidence)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")


def _samples_by_problem(student_rows: Sequence[dict]) -> dict[str, list[dict]]:
    """All samples per problem, in sample_index order; a repeated sample_index is refused."""
    by_problem: dict[str, dict[int, dict]] = {}
    for row in student_rows:
        pid, index = str(row["problem_id"]), _as_int(row["sample_index"]) or 0
        group = by_problem.setdefault(pid, {})
        if index in group:
            raise ValueError(f"duplicate student rows for problem {pid!r} sample_index {index}")
        group[index] = row
    return {pid: [group[i] for i in sorted(group)] for pid, group in by_problem.items()}


class _Verdict:
    """The student's vote on one problem: the top answer and confidence, or why there is none."""

    def __init__(self, top: str = "", votes: int = 0, n: int = 0, reason: str | None = None):
        self.top, self.votes, self.n, self.reason = top, votes, n, reason

    @property
    def confidence(self) -> float:
        return self.votes / self.n if self.n else 0.0


def _vote(group: list[dict]) -> _Verdict:
    # Not score.majority_vote.vote(): that one votes over non-empty answers only and breaks ties by
    # sample order, and here an empty answer is a candidate of its own and a tie must be visible.
    if not group:
        return _Verdict(reason="student_missing")
    answers = [_answer(row) for row in group]
    counts = Counter(answers)
    if not any(answers):
        return _Verdict(n=len(group), reason="no_parseable_answers")
    most = max(counts.values())
    leaders = [a for a, c in counts.items() if c == most]
    if len(leaders) > 1:
        return _Verdict(votes=most, n=len(group), reason="no_majority")
    if leaders[0] == "":
        return _Verdict(votes=most, n=len(group), reason="empty_top_answer")
    return _Verdict(top=leaders[0], votes=most, n=len(group))


def _pairs(weak: dict | None, group: list[dict], verdict: _Verdict, min_confidence: float,
           flip_confidence: float, seed: int, max_pairs: int) -> list[dict] | str:
    """The pairs for one weak solution (max_pairs at most), or the reason there is none."""
    if weak is None:
        return "weak_missing"
    if group and str(weak["question"]) != str(group[0]["question"]):
        raise ValueError(f"problem {weak['problem_id']!r}: the weak and student rows carry different questions")
    if verdict.reason is not None:
        return verdict.reason
    if verdict.confidence < min_confidence - _EPS:
        return "low_confidence"
    rng = _rng(seed, str(weak["model"]), str(weak["problem_id"]))
    if _answer(weak) == verdict.top:
        minority = [s for s in group if _answer(s) != verdict.top and _has_text(s)]
        if not minority:
            return "no_minority_sample"
        # The authors' order of draws: one choice at max_pairs 1 (random.sample(..., 1)), else all
        # minority samples when they are few enough, a sample of max_pairs when not.
        rejected = [rng.choice(minority)] if max_pairs == 1 else \
            (minority if len(minority) <= max_pairs else rng.sample(minority, max_pairs))
        return [_row(weak, verdict, "weak_agrees", chosen=(weak, "weak"), rejected=(r, "strong")) for r in rejected]
    if verdict.confidence < flip_confidence - _EPS:
        return "disagree_below_flip"
    if not _has_text(weak):
        return "weak_empty_text"
    majority = [s for s in group if _answer(s) == verdict.top]  # a stated answer implies text
    first = rng.choice(majority)
    # Then the majority samples in order whose text differs from the drawn one's (the authors'
    # loop compares texts, so two samples of one text give one pair).
    chosen = [first, *[s for s in majority if s["text"] != first["text"]]][:max_pairs]
    return [_row(weak, verdict, "majority_overrules", chosen=(c, "strong"), rejected=(weak, "weak")) for c in chosen]


def _row(weak: dict, verdict: _Verdict, case: str, chosen: tuple[dict, str], rejected: tuple[dict, str]) -> dict:
    # sft_row gives the zero-shot prompt and the " "-prefixed completion exactly as SFT rows have them.
    chosen_sft, rejected_sft = sft_row(*chosen), sft_row(*rejected)
    return {
        "problem_id": chosen_sft["problem_id"],
        "prompt": chosen_sft["prompt"],
        "chosen": chosen_sft["completion"],
        "rejected": rejected_sft["completion"],
        "source_model": str(weak["model"]),  # the weak teacher this pair was built against
        "level": _as_int(weak["level"]),
        "confidence": verdict.confidence,
        "top_answer": verdict.top,
        "case": case,
        "chosen_source": _source(*chosen),
        "rejected_source": _source(*rejected),
        "chosen_answer": _answer(chosen[0]),
        "rejected_answer": _answer(rejected[0]),
    }


def _source(row: dict, role: str) -> str:
    return f"{role}:{row['model']}:{_as_int(row['sample_index']) or 0}"


def _answer(row: dict) -> str:
    return normalize_answer(row["answer"])


def _has_text(row: dict) -> bool:
    return bool((row["text"] or "").strip())


def _rng(seed: int, teacher: str, problem_id: str) -> random.Random:
    # Python's hash() of a str changes per process; sha256 keeps the pick stable across runs and workers.
    digest = hashlib.sha256(f"{seed}:{teacher}:{problem_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
