"""Selections as Ray Data operations (stages/select_data.py) equal the list functions: the rows a
training stage reads back (same rows, same order), the stage's recorded statistics and hash, for
take-all, the consistency filter and preference pairs (max_pairs 1 and 3), on weak teachers that skip
problems, a strong side with gaps, and students that skip problems; in one shuffle partition and in
many. One Ray for the file (~1 min on
2 busy cores): `make test-long`."""
from __future__ import annotations

import pytest

from tests.conftest import long_test
from tests.test_select_grouped import world
from w2s_ray.run.manifest import StageResult
from w2s_ray.select import build_preference_pairs, consistency_filter, take_all

pytestmark = long_test


@pytest.fixture(scope="module")
def ray_started(tmp_path_factory):
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    init_ray(num_cpus=2, log_to_driver=False)
    yield
    shutdown_ray()


@pytest.fixture(params=["sized", "many"])
def partitions(request, monkeypatch):
    """The shuffles as sized for these few rows (one partition), and in many partitions (pieces of
    about 64 bytes: run/shuffle.py), so the rows and hash are checked across partitions too."""
    if request.param == "many":
        monkeypatch.setattr("w2s_ray.run.shuffle.PIECE_BYTES", 64)
    return request.param


def stage(tmp_path, name, rows, split=True):
    """A generate stage's record for `rows`: written by Ray workers as a dataset (split over blocks),
    or one parquet file as write_stage writes it (a selection's rows, an older run's stage)."""
    import ray

    from w2s_ray.run.stage_dataset import write_dataset
    from w2s_ray.run.stage_io import write_stage

    rows = [{**r, "gold": "7", "correct": r["answer"] == "7"} for r in rows]  # gold the selections never read
    if split:
        output = write_dataset(tmp_path / name, ray.data.from_items(rows, override_num_blocks=3),
                               order=("problem_id", "sample_index"))
    else:
        output = write_stage(tmp_path / name, rows)
    return StageResult(outputs={"rows": output})


def selected(tmp_path, plan):
    """What select_data writes and records, read back as a training stage reads it."""
    from w2s_ray.run.stage_dataset import write_dataset
    from w2s_ray.run.stage_io import read_output
    from w2s_ray.run.shuffle import in_order
    from w2s_ray.stages.select_data import run_selection

    rows, summary = run_selection(plan)
    output = write_dataset(tmp_path / "select", in_order(rows), order=plan.order)
    assert output["rows"] == summary.rows_out
    return read_output(output), summary.stats()


def test_take_all_and_the_consistency_filter_equal_the_list_path(ray_started, tmp_path, partitions):
    from w2s_ray.stages.select_data import UpstreamData, consistency_data, take_all_data

    weak_a, strong, _ = world(0, problems=60, teachers=("weak-a",))
    weak_b, _, _ = world(1, problems=60, teachers=("weak-b",))
    data = UpstreamData({"a": stage(tmp_path, "a", weak_a), "b": stage(tmp_path, "b", weak_b, split=False),
                         "strong": stage(tmp_path, "strong", strong)})
    whole = take_all(weak_a + weak_b)
    rows, stats = selected(tmp_path, take_all_data(data.joined(["a", "b"])))
    assert rows == whole.rows and stats == whole.stats()

    whole = consistency_filter(weak_a + weak_b, strong)
    rows, stats = selected(tmp_path, consistency_data(data.joined(["a", "b"]), data["strong"]))
    assert whole.kept and rows == whole.rows and stats == whole.stats()


@pytest.mark.parametrize("max_pairs", [1, 3])
def test_preference_pairs_equal_the_list_path(ray_started, tmp_path, max_pairs, partitions):
    from w2s_ray.stages.select_data import UpstreamData, preference_data

    weak, _, student = world(2, problems=60)
    data = UpstreamData({"weak": stage(tmp_path, "weak", weak), "samples": stage(tmp_path, "samples", student)})
    settings = {"min_confidence": 0.3, "flip_confidence": 0.4, "seed": 3, "max_pairs": max_pairs}
    whole = build_preference_pairs(student, weak, **settings)
    rows, stats = selected(tmp_path, preference_data(data["samples"], data.joined(["weak"]), **settings))
    assert whole.kept and rows == whole.rows and stats == whole.stats()


def test_a_row_repeated_across_batches_is_refused_as_take_all_refuses_it(ray_started, tmp_path):
    from w2s_ray.stages.select_data import UpstreamData, run_selection, take_all_data

    weak, _, _ = world(3, problems=10, teachers=("weak-a",))
    weak = [r for r in weak if r["text"]]
    data = UpstreamData({"a": stage(tmp_path, "a", weak), "again": stage(tmp_path, "again", weak[:1])})
    with pytest.raises(ValueError, match="duplicate generation rows"):
        take_all(weak + weak[:1])
    # Found in a batch by take_all itself, or across batches in the sorted rows: Ray wraps either
    # worker's ValueError (a UserCodeException, a RayTaskError), its message kept.
    with pytest.raises(Exception, match="duplicate generation rows"):
        run_selection(take_all_data(data.joined(["a", "again"])))


def test_the_fixed_demos_drawn_from_keys_equal_the_list_draw(ray_started, tmp_path):
    """w2s_reasoning's fixed demo set (the authors' draw) from the pool's keys in Ray Data equals
    draw_fixed over the whole pool in the driver: same demos, same order, same pool size, for
    several seeds and k, over two teachers' stages (one split into blocks, one file)."""
    from w2s_ray.recipes.w2s_reasoning.demos import demo_pool, draw_fixed, draw_fixed_data
    from w2s_ray.stages.select_data import StageData

    weak_a, _, _ = world(4, problems=50, teachers=("weak-a",))
    weak_b, _, _ = world(5, problems=50, teachers=("weak-b",))
    weak_b[0] = {**weak_b[0], "answer": ""}  # a greedy solution that states no answer is never drawn
    weak_b[1] = {**weak_b[1], "text": "  "}  # nor one without text
    data = StageData([stage(tmp_path, "a", weak_a).output("rows"),
                      stage(tmp_path, "b", weak_b, split=False).output("rows")])
    pool = demo_pool([{**r, "gold": "7", "correct": r["answer"] == "7"} for r in weak_a + weak_b])
    assert len(pool) > 40
    for seed, k in ((0, 4), (1, 4), (7, 8)):
        demos, size = draw_fixed_data(data, k, seed)
        assert list(demos) == list(draw_fixed(pool, k, seed)) and size == len(pool)
    with pytest.raises(ValueError, match="needs 1000 weak outputs that state an answer"):
        draw_fixed_data(data, 1000, 0)
