"""The recipes' selections and report numbers made in Ray Data equal the list path on the same
stages (tests/test_recipe_pieces.py checks the pieces without Ray): easy-to-hard's step labels (the
rows a training stage reads back, the recorded statistics and hash), its rerank section and picks, the
step AUROCs and the Monte Carlo labels' solutions; LightReasoner's KL steps (with beta alone and from
the KL quantile) and its RS-SFT rows.
One Ray for the file: `make test-long`."""
from __future__ import annotations

import json

import pytest

from tests.conftest import long_test
from tests.test_recipe_pieces import contrast_rows, samples
from tests.test_select_data import selected
from w2s_ray.run.manifest import StageResult

pytestmark = long_test


@pytest.fixture(scope="module")
def ray_started():
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    init_ray(num_cpus=2, log_to_driver=False)
    yield
    shutdown_ray()


def stage_data(tmp_path, name, rows, split=True):
    """A stage's rows as the workers write them (over several files), or as one parquet file (an
    older run's, or a stage written in the driver), read back as select_data's StageData."""
    import ray

    from w2s_ray.run.stage_dataset import write_dataset
    from w2s_ray.run.stage_io import write_stage
    from w2s_ray.stages.select_data import StageData

    if split:
        output = write_dataset(tmp_path / name, ray.data.from_items(rows, override_num_blocks=3),
                               order=("problem_id", "sample_index"))
    else:
        output = write_stage(tmp_path / name, rows)
    return StageData.of(StageResult(outputs={"rows": output}))


@pytest.mark.parametrize("source,split", [("gold", True), ("step_check", False)])
def test_step_labels_equal_the_list_path(ray_started, tmp_path, source, split):
    from w2s_ray.recipes.easy_to_hard.data import step_labels_data
    from w2s_ray.recipes.easy_to_hard.step_labels import step_labels

    rows = samples(0, problems=30)
    whole = step_labels(rows, source, "line", True)
    out, stats = selected(tmp_path, step_labels_data(stage_data(tmp_path, "samples", rows, split), source, "line",
                                                     True))
    assert whole.kept and out == whole.rows and stats == whole.stats()


def test_the_rerank_report_equals_the_list_path(ray_started, tmp_path):
    from w2s_ray.recipes.easy_to_hard.data import rerank_data, sample_scores, step_auroc_data
    from w2s_ray.recipes.easy_to_hard.report import rerank_report, rerank_report_from_picks, step_auroc
    from w2s_ray.recipes.easy_to_hard.step_labels import step_labels

    rows = samples(1, problems=40)
    data = stage_data(tmp_path, "samples", rows)
    greedy = {"easy_sft": {"acc": 0.5, "acc_by_level": {1: 0.5, 4: 0.25}, "n_by_level": {1: 4, 4: 4}}}
    whole = rerank_report(rows, greedy, "prm_min", [4, 5])
    assert rerank_report_from_picks(*rerank_data(data, "prm_min"), greedy, "prm_min", [4, 5]) == whole
    for levels in ([1, 2], [4, 5]):
        labels = step_labels([r for r in rows if r["level"] in levels], "gold", "line", True).rows
        expected = step_auroc(rows, labels)
        assert expected["auroc"] is not None
        assert step_auroc_data(data, levels, "gold", "line", True) == expected
    some = step_labels(rows, "gold", "line", False).rows[::4]  # as the Monte Carlo labels: a few solutions
    assert step_auroc(sample_scores(data, some), some) == step_auroc(rows, some)


def test_the_monte_carlo_solutions_equal_the_list_path(ray_started, tmp_path):
    from w2s_ray.recipes.easy_to_hard.data import mc_solutions, mc_solutions_data
    from w2s_ray.run.stage_io import read_output

    data = stage_data(tmp_path, "samples", samples(4, problems=40))
    rows = read_output(data.outputs[0])  # the whole rows, as the recipe read them before (stage_rows)
    for n in (3, 50):  # fewer wrong solutions than there are, and more
        whole = mc_solutions(rows, [4, 5], n)
        # as JSON: a NaN step score is a float that equals no other, in two reads of one file
        chosen = mc_solutions_data(data, [4, 5], n)
        assert whole and json.dumps(chosen, sort_keys=True) == json.dumps(whole, sort_keys=True)
    assert len(mc_solutions(rows, [4, 5], 3)) == 6


@pytest.mark.parametrize("keep_fraction", [None, 0.3])
def test_kl_steps_equal_the_list_path(ray_started, tmp_path, keep_fraction):
    from w2s_ray.recipes.light_reasoner.data import kl_steps_data
    from w2s_ray.recipes.light_reasoner.select import select_steps

    rows = contrast_rows(2, solutions=40)
    whole = select_steps(rows, 0.2, keep_fraction, 1, 0.01)
    out, stats = selected(tmp_path, kl_steps_data(stage_data(tmp_path, "contrast", rows), 0.2, keep_fraction, 1,
                                                  0.01))
    assert whole.kept and out == whole.rows and stats == whole.stats()
    assert (stats["beta"] > 0.2) == (keep_fraction is not None)


def test_rejection_sampling_rows_equal_the_list_path(ray_started, tmp_path):
    from w2s_ray.recipes.light_reasoner.data import rejection_sampling_data
    from w2s_ray.recipes.light_reasoner.select import rejection_sampling_sft

    rows = [{**r, "role": "strong", "prompt": f"<chat>{r['question']}</chat>"} for r in samples(3, problems=30)]
    whole = rejection_sampling_sft(rows, True)
    out, stats = selected(tmp_path, rejection_sampling_data(stage_data(tmp_path, "samples", rows), True))
    assert whole.kept and out == whole.rows and stats == whole.stats()
