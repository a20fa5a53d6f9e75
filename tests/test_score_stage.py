"""The registry, the contract checks, score_rows, and the Ray Data path (actor pool + groupby)."""
import sys

import numpy as np
import pytest

from w2s_ray.score import (
    Scorer,
    ScorerSpec,
    UnknownScorerError,
    extract_answer,
    get_scorer,
    object_column,
    register,
    score_dataset,
    score_rows,
)
from w2s_ray.score.base import SCORERS


@register("test_step_lengths")
class StepLengths(Scorer):
    """A test scorer with a list-valued column, like a PRM's `step_scores`."""

    columns = ("step_lengths",)
    num_cpus = 0.25

    def __init__(self, *, scale: int = 1):
        self.scale = scale

    def __call__(self, batch):
        texts = [t or "" for t in batch["text"].tolist()]
        return {"step_lengths": object_column(
            [self.scale * len(line) for line in t.split("\n") if line.strip()] for t in texts)}


SOLUTIONS = [
    "14 + 6 = 20\n20 - 5 = 15\n#### 15",
    "14 + 6 = 21\n21 - 5 = 16\n#### 16",
    "14 + 6 = 20\n20 - 5 = 15\n#### 15",
    "I am not sure.",
    "__import__('os').system('echo hi') = 3\n#### 3",
    "",
]
MATH_SOLUTIONS = [r"So it is $\boxed{\frac{1}{2}}$.", r"\boxed{0.5}", r"\boxed{\frac{2}{3}}"]


def _generations():
    rows = []
    for p in range(3):
        for model in ("weak", "strong"):
            math_problem = p == 2
            texts = MATH_SOLUTIONS if math_problem else SOLUTIONS
            for i, text in enumerate(texts):
                rows.append({
                    "problem_id": f"p{p}", "model": model, "sample_index": i, "prompt": "Q",
                    "text": text, "answer": extract_answer(text, "auto"),
                    "gold": r"\frac{1}{2}" if math_problem else ("15" if p == 0 else None),
                    "level": p + 1, "n_prompt_tokens": 3, "n_generated_tokens": len(text),
                })
    return rows


SPECS = [
    ScorerSpec(name="answer_check", config={"style": "auto"}, batch_size=4),
    ScorerSpec(name="step_check", concurrency=2, batch_size=5),
    ScorerSpec(name="majority_vote", num_partitions=4),
    ScorerSpec(name="test_step_lengths", config={"scale": 2}, batch_size=7),
]
ADDED = ("correct", "has_gold", "answer_refused", "answer_timed_out", "n_steps", "n_wrong_steps", "step_error_rate", "wrong_steps",
         "n_checkable_steps", "n_refused_steps", "vote_answer", "vote_confidence", "vote_size", "in_majority",
         "step_lengths")


def test_registry_lists_builtins_and_explains_unknown_names():
    assert {"answer_check", "step_check", "majority_vote"} <= set(SCORERS.names())
    assert get_scorer("majority_vote").group_by == ("problem_id", "model")
    with pytest.raises(KeyError, match="known scorers: .*answer_check"):
        get_scorer("no_such_scorer")
    with pytest.raises(UnknownScorerError):
        ScorerSpec(name="no_such_scorer").scorer_class()


def test_register_refuses_a_taken_name_and_non_scorers():
    with pytest.raises(ValueError):
        @register("answer_check")
        class Other(Scorer):
            columns = ("x",)
    with pytest.raises(TypeError):
        register("not_a_scorer")(object)


def test_score_dataset_rejects_bad_specs_before_touching_ray():
    with pytest.raises(KeyError):
        score_dataset(None, [{"name": "no_such_scorer"}])
    with pytest.raises(ValueError):
        score_dataset(None, [{"name": "step_check", "unknown_field": 1}])


def test_spec_resources_default_to_the_scorer_and_can_be_overridden():
    assert ScorerSpec(name="step_check").resources() == {"num_cpus": 0.5, "num_gpus": 0.0}
    assert ScorerSpec(name="step_check", num_gpus=1).resources()["num_gpus"] == 1
    with pytest.raises(ValueError):
        ScorerSpec(name="step_check", concurrency=0)


def test_score_rows_adds_columns_in_input_order():
    rows = _generations()
    scored = score_rows(rows, SPECS)
    assert [r["sample_index"] for r in scored] == [r["sample_index"] for r in rows]
    assert all(set(r) == set(rows[0]) | set(ADDED) for r in scored)
    assert "correct" not in rows[0]  # inputs are not mutated
    p0_weak = [r for r in scored if r["problem_id"] == "p0" and r["model"] == "weak"]
    assert [r["correct"] for r in p0_weak] == [True, False, True, False, False, False]
    assert [r["wrong_steps"] for r in p0_weak][:2] == [[], [0]]
    assert {r["vote_answer"] for r in p0_weak} == {"15"}
    assert p0_weak[0]["vote_confidence"] == pytest.approx(2 / 6)
    assert p0_weak[0]["step_lengths"] == [22, 22, 14]
    p1 = [r for r in scored if r["problem_id"] == "p1"]
    assert not any(r["has_gold"] or r["correct"] for r in p1)
    p2 = [r for r in scored if r["problem_id"] == "p2" and r["model"] == "weak"]
    assert [r["correct"] for r in p2] == [True, True, False]  # math_verify: 1/2 == 0.5


def test_contract_violations_are_reported():
    class Liar(Scorer):
        columns = ("a",)

        def __call__(self, batch):
            return {"b": np.zeros(len(batch["text"]))}

    class Short(Scorer):
        columns = ("a",)

        def __call__(self, batch):
            return {"a": np.zeros(0)}

    rows = [{"text": "x"}]
    with pytest.raises(ValueError, match="declared"):
        score_rows(rows, [Liar()])
    with pytest.raises(ValueError, match="rows"):
        score_rows(rows, [Short()])
    with pytest.raises(ValueError, match="overwrite"):
        score_rows([{"text": "1", "n_steps": 0}], ["step_check"])
    with pytest.raises(ValueError, match="both"):
        score_rows(rows, ["step_check", {"name": "step_check"}])


@pytest.fixture(scope="module")
def ray_session(ray_local):
    ray = ray_local  # the session's Ray (shutting one down here left later tests without one)
    # Ray workers cannot import a pytest test module by name; ship this one's classes by value.
    # (Scorers in an installed package or in a driver's __main__ need nothing of the kind.)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray


def _plain(value):
    """Ray hands list cells back as numpy arrays and scalars as numpy types."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(row):
    return (row["problem_id"], row["model"], row["sample_index"])


@pytest.mark.slow
def test_ray_actor_pool_path_equals_plain_path(ray_session, tmp_path):
    rows = _generations()
    ds = ray_session.data.from_items(rows, override_num_blocks=3)
    scored = score_dataset(ds, SPECS)
    # A parquet round trip: list columns must survive a write even where a whole batch has only [].
    scored.write_parquet(str(tmp_path / "scored"))
    from_ray = sorted(ray_session.data.read_parquet(str(tmp_path / "scored")).take_all(), key=_key)
    plain = sorted(score_rows(rows, SPECS), key=_key)
    assert len(from_ray) == len(plain) == len(rows)
    for ray_row, plain_row in zip(from_ray, plain):
        for column in ADDED:
            assert _plain(ray_row[column]) == plain_row[column], (column, _key(plain_row))
    assert _plain(from_ray[0]["step_lengths"]) == [22, 22, 14]


def test_light_row_wise_scorers_share_one_actor_pool_and_grouped_ones_do_not():
    from w2s_ray.score.stage import _pools, as_specs

    specs = as_specs(["answer_check", "step_check", "majority_vote"])
    assert [[s.name for s in pool] for pool in _pools(specs)] == [["answer_check", "step_check"], ["majority_vote"]]
    apart = as_specs([{"name": "answer_check", "concurrency": 2}, "step_check"])
    assert len(_pools(apart)) == 2
