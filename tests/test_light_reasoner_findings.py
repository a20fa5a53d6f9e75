"""The light_reasoner report's findings on a synthetic manifest (the paper's claim, METHODS.md 2:
>= 80 % of RS-SFT's gain with <= 10 % of its trained tokens): the contract's keys, the gain as a
paired difference that follows the data both ways, the tokens as a count, and "not run" with a
reason where a side is missing."""
from __future__ import annotations

import pytest

from w2s_ray.recipes.light_reasoner import keys
from w2s_ray.recipes.light_reasoner.report import build
from w2s_ray.run.manifest import Manifest, StageResult, run_stage
from w2s_ray.run.stage_io import write_stage

KEYS = {"id", "claim", "diff", "ci95", "n_test", "holds", "verdict"}
IDS = [f"t{i:04d}" for i in range(1000)]
GAIN, TOKENS = "lightreasoner_gain>=0.8_rs_sft", "lightreasoner_tokens<=0.1_rs_sft"


def _right(share: float) -> dict[str, float]:
    """The first `share` of every 100 problems right: a better model is right where a worse one is."""
    return {pid: float(i % 100 < 100 * share) for i, pid in enumerate(IDS)}


def _stage(manifest, key, rows, **result):
    run_stage(manifest, key, lambda: StageResult(outputs={"rows": write_stage(manifest.run_dir / key, rows)}, **result))


def _eval(manifest, key, right):
    _stage(manifest, key, [{"problem_id": p, "correct": bool(v), "has_gold": True} for p, v in right.items()],
           metrics={"accuracy": {"acc": sum(right.values()) / len(right)}})


def _run(tmp_path, base=0.3, lr=0.5, rs=0.55, lr_tokens=100, rs_train=True, lr_eval=True):
    manifest = Manifest.create(tmp_path, {"recipe": "light_reasoner"}, "h")
    # 40 samples of 10 tokens, 20 right: RS-SFT's trained tokens are 20 x (10 + 1 EOS) x 1 epoch = 220
    samples = [{"problem_id": f"s{i}", "correct": i % 2 == 0, "text": "1 + 1 = 2", "n_generated_tokens": 10}
               for i in range(40)]
    _stage(manifest, keys.SAMPLE, samples, metrics={"generate": {"generated_tokens": 400}})
    _eval(manifest, keys.BASE_EVAL, _right(base))
    _stage(manifest, keys.TRAIN, [], rows_in=lr_tokens, metrics={"supervised_tokens": lr_tokens, "tokens": 5000})
    if lr_eval:
        _eval(manifest, keys.EVAL, _right(lr))
    if rs_train:
        _stage(manifest, keys.RS_TRAIN, [], rows_in=20, metrics={"samples": 20, "tokens": 9000})
        _eval(manifest, keys.RS_EVAL, _right(rs))
    return {f["id"]: f for f in build(manifest, {})["findings"]}


def test_both_claims_hold_on_data_that_shows_them(tmp_path):
    found = _run(tmp_path, base=0.3, lr=0.5, rs=0.5, lr_tokens=20)
    assert set(found) == {GAIN, TOKENS}
    for f in found.values():
        assert KEYS <= set(f) and f["holds"] is True and f["verdict"] == "holds", f
    gain = found[GAIN]
    # per problem LR_gain - 0.8 RS_gain: 0.2 - 0.8 x 0.2 = 0.04 on average, over all 1,000 problems
    assert gain["diff"] == pytest.approx(0.04) and gain["n_test"] == 1000 and gain["ci95"][0] > 0
    tokens = found[TOKENS]
    assert tokens["tokens_trained"] == {"light_reasoner": 20, "rs_sft": 220}
    assert tokens["diff"] == pytest.approx(0.1 - 20 / 220) and tokens["ci95"] == [tokens["diff"]] * 2
    assert tokens["unit"] == "ratio"


def test_a_smaller_gain_and_more_tokens_do_not_hold(tmp_path):
    found = _run(tmp_path, base=0.3, lr=0.35, rs=0.6, lr_tokens=100)
    assert found[GAIN]["holds"] is False and found[GAIN]["verdict"] == "reversed"
    assert found[GAIN]["diff"] == pytest.approx(0.05 - 0.8 * 0.3)
    assert found[TOKENS]["holds"] is False and found[TOKENS]["diff"] == pytest.approx(0.1 - 100 / 220)


def test_equal_gains_at_the_share_are_not_distinguishable_but_exactly_ten_percent_of_tokens_holds(tmp_path):
    found = _run(tmp_path, base=0.3, lr=0.46, rs=0.5, lr_tokens=22)  # 0.16 = 0.8 x 0.2 exactly
    assert found[GAIN]["verdict"] == "not distinguishable" and found[GAIN]["holds"] is False
    assert found[TOKENS]["diff"] == 0 and found[TOKENS]["holds"] is True


def test_a_missing_side_is_not_run_with_its_reason(tmp_path):
    found = _run(tmp_path, rs_train=False)
    for f in found.values():
        assert KEYS <= set(f) and f["holds"] is None and f["verdict"] == "not run", f
    assert "RS-SFT" in found[GAIN]["why"]
    found = _run(tmp_path / "no-eval", lr_eval=False)
    assert found[GAIN]["verdict"] == "not run" and "LightReasoner" in found[GAIN]["why"]
    assert found[TOKENS]["holds"] is False  # both trainings finished: the count is there
