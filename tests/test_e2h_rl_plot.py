"""report.png's RL panels on a hand-made report (fast): per reward chain, the mean reward, the share
of rollouts right by gold and the hard-level test accuracy over iterations, so that a reward going up
while the accuracy goes down (over-optimisation) is there to see."""
from __future__ import annotations

import math

from w2s_ray.eval.report import figure, plot
from w2s_ray.recipes.easy_to_hard.rl_plot import GOLD_LINE, REWARD_LINE, START_LINE, TEST_LINE


def _iteration(reward, k, mean_reward, gold, test_hard):
    return {"reward": reward, "iteration": k, "supervision": "process" if reward == "prm" else "outcome",
            "mean_reward": mean_reward, "train_gold_accuracy": gold, "test_hard_acc": test_hard}


def _report():
    hacked = [_iteration("prm", 1, 0.40, 0.30, 0.25), _iteration("prm", 2, 0.65, 0.20, 0.15),
              _iteration("prm", 3, 0.90, 0.05, 0.05)]  # reward up, accuracy down
    orm = [_iteration("orm", 1, -1.5, 0.30, None), _iteration("orm", 2, 2.5, 0.35, 0.30)]  # no eval of iteration 1
    easy_sft = {"acc": 0.5, "acc_by_level": {1: 0.9, 4: 0.3, 5: 0.1}, "n_by_level": {1: 10, 4: 10, 5: 10}}
    return {"run": "hand-made", "recipe": "easy_to_hard", "baselines": {}, "rounds": [],
            "students": {"easy_sft": easy_sft},
            "rl": {"rewards": ["prm", "orm"], "hard_levels": [4, 5], "iterations": hacked + orm, "final": {}}}


def _lines(ax) -> dict:
    return {line.get_label(): [float(y) for y in line.get_ydata()] for line in ax.get_lines()}


def test_each_reward_chain_gets_a_panel_with_reward_and_accuracy_over_iterations(tmp_path):
    import matplotlib.pyplot as plt

    fig = figure(_report())
    titles = [ax.get_title() for ax in fig.axes]
    prm_ax = next(ax for ax in fig.axes if ax.get_title().startswith("RL, prm reward (process)"))
    orm_ax = next(ax for ax in fig.axes if ax.get_title().startswith("RL, orm reward (outcome)"))
    assert titles[0] == "hand-made: accuracy by level"

    prm = _lines(prm_ax)
    assert prm[REWARD_LINE] == [0.40, 0.65, 0.90] and prm[GOLD_LINE] == [0.30, 0.20, 0.05]
    assert prm[TEST_LINE] == [0.25, 0.15, 0.05] and prm[START_LINE] == [0.2, 0.2]  # 10 x 0.3 + 10 x 0.1 of 20
    assert [float(x) for x in prm_ax.get_lines()[0].get_xdata()] == [1, 2, 3] and prm_ax.get_xlabel() == "RL iteration"
    assert {t.get_text() for t in prm_ax.get_legend().get_texts()} == {REWARD_LINE, GOLD_LINE, TEST_LINE, START_LINE}

    # The outcome RM's scores leave [0, 1]: the reward gets an axis of its own, the shares keep theirs.
    orm = _lines(orm_ax)
    assert REWARD_LINE not in orm and orm[GOLD_LINE] == [0.30, 0.35]
    assert math.isnan(orm[TEST_LINE][0]) and orm[TEST_LINE][1] == 0.30
    twin = next(ax for ax in fig.axes if REWARD_LINE in _lines(ax) and ax is not prm_ax)
    assert _lines(twin)[REWARD_LINE] == [-1.5, 2.5] and twin.get_ylabel() == REWARD_LINE
    assert orm_ax.get_ylim() == (0.0, 1.0)
    plt.close(fig)

    plot(_report(), tmp_path / "report.png")
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_start_line_without_per_level_counts_is_the_hard_levels_mean():
    import matplotlib.pyplot as plt

    report = _report()
    report["students"]["easy_sft"] = {"acc": 0.2, "acc_by_level": {"1": 0.5, "4": 0.25, "5": 0.0}}  # as report.json has it
    fig = figure(report)
    assert _lines(fig.axes[1])[START_LINE] == [0.125, 0.125]
    plt.close(fig)


def test_a_report_without_rl_iterations_keeps_the_one_panel():
    import matplotlib.pyplot as plt

    report = {**_report(), "rl": None}
    fig = figure(report)
    assert len(fig.axes) == 1
    plt.close(fig)
