"""LightReasoner's parts on their own (METHODS.md section 2): the soft target on a hand-computed
3-token example, KL >= beta selection on planted distributions, the contrast scorer against two plain
forward passes of the same models, the tokenizer-mismatch refusal, and the KL loss at the last
non-pad position of a right-padded batch. Tiny models: tests/conftest.py's `tiny_models`."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from tests.conftest import long_test
from w2s_ray.recipes.light_reasoner.select import contrast_target, rejection_sampling_sft, select_steps
from w2s_ray.score.contrast import ContrastScorer, TokenizerMismatchError, check_same_tokenizer, expert_mask


def test_target_on_a_hand_computed_three_token_example():
    pi_e, pi_a = np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.3, 0.5])
    # alpha 0.2: the bar is 0.2 * 0.6 = 0.12, so token 2 (0.1) is out of V_t
    mask, cut = expert_mask(np.log(pi_e), alpha=0.2, max_mask=64)
    assert mask.tolist() == [0, 1] and not cut
    # softmax over V_t of log(pi_E / pi_A) = softmax(log 3, log 1) = (3/4, 1/4); zero outside V_t
    v = contrast_target(np.log(pi_e[mask]), np.log(pi_a[mask]))
    assert v == pytest.approx([0.75, 0.25])
    # a tighter alpha keeps only the top token, whose target is then certain
    assert expert_mask(np.log(pi_e), alpha=0.6, max_mask=64)[0].tolist() == [0]
    ids, cut = expert_mask(np.log([0.3, 0.3, 0.4]), alpha=0.2, max_mask=2)  # V_t has 3: cut to the top 2
    assert ids.tolist() == [2, 0] and cut


def _planted(problem: str, kls: list[float], n_prompt: int = 3) -> dict:
    n = len(kls)
    return {"problem_id": problem, "model": "expert", "sample_index": 0, "contrast_prompt_len": n_prompt,
            "contrast_ids": list(range(100, 100 + n_prompt + n)), "contrast_kl": kls,
            "contrast_mask_ids": [[7, 8]] * n, "contrast_logp_expert": [[math.log(0.6), math.log(0.3)]] * n,
            "contrast_logp_amateur": [[math.log(0.2), math.log(0.3)]] * n,
            # gold columns a selection must never read: reading one raises
            "correct": _Explodes(), "gold": _Explodes()}


class _Explodes:
    def __bool__(self):
        raise AssertionError("the LightReasoner selection read a gold column")

    def __eq__(self, other):
        raise AssertionError("the LightReasoner selection read a gold column")

    __hash__ = None


def test_steps_at_or_above_beta_are_kept_with_their_prefix_and_target():
    rows = [_planted("p2", [0.1, 0.5, 0.4, 0.39, float("nan")]), _planted("p1", [2.0], n_prompt=1)]
    sel = select_steps(rows, beta=0.4)
    assert (sel.n_in, sel.kept, sel.dropped, sel.unit) == (6, 3, {"kl_below_beta": 3}, "step")
    kept = [(r["problem_id"], r["step"], r["kl"]) for r in sel.rows]
    assert kept == [("p1", 0, 2.0), ("p2", 1, 0.5), ("p2", 2, 0.4)]
    # step t is predicted at position n_prompt - 1 + t: the prefix ends there
    assert [len(r["input_ids"]) for r in sel.rows] == [1, 4, 5]
    assert sel.rows[1]["input_ids"] == [100, 101, 102, 103]
    assert sel.rows[1]["target_ids"] == [7, 8] and sel.rows[1]["target_probs"] == pytest.approx([0.75, 0.25])


def test_keep_fraction_raises_beta_to_the_kl_quantile_and_records_it():
    rows = [_planted("p2", [0.1, 0.5, 0.4, 0.39, float("nan")]), _planted("p1", [2.0, 0.9, 3.0], n_prompt=1)]
    sel = select_steps(rows, beta=0.4, keep_fraction=0.25)  # 7 KLs (NaN aside): the top 2 of them
    assert [(r["problem_id"], r["kl"]) for r in sel.rows] == [("p1", 2.0), ("p1", 3.0)]
    assert sel.stats()["beta"] == 2.0 and sel.dropped == {"kl_below_beta": 6}
    # the quantile never lowers the configured beta: keeping "all" still keeps only KL >= beta
    everything = select_steps(rows, beta=0.4, keep_fraction=1.0)
    assert everything.kept == 5 and everything.stats()["beta"] == 0.4
    assert select_steps(rows, beta=0.4).stats()["beta"] == 0.4


def test_rejection_sampling_keeps_the_right_non_empty_samples():
    rows = [{"problem_id": p, "model": "expert", "sample_index": 0, "question": "Q?", "text": t, "answer": "1",
             "level": 1, "correct": c} for p, t, c in (("a", "so 1", True), ("b", "so 2", False), ("c", " ", True))]
    sel = rejection_sampling_sft(rows)
    assert [r["problem_id"] for r in sel.rows] == ["a"] and sel.dropped == {"wrong_or_empty": 2}


@pytest.fixture(scope="module")
def pair(tiny_models):
    amateur, expert = tiny_models  # the same tokenizer, trained apart: their distributions differ
    return expert, amateur


def _plain_log_probs(path: str, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        return torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], -1).numpy()


def test_contrast_equals_two_plain_forward_passes(pair):
    from w2s_ray.score.stage import score_rows

    expert, amateur = pair
    rows = [{"problem_id": str(i), "prompt": "Question: Ada has 12 apples. She buys 7 more. How many?\nAnswer:",
             "text": text} for i, text in enumerate([" 12 + 7 = 19\n#### 19", " 19", " 12 + 7 = 19\n12 + 0 = 12\n#### 12"])]
    # one micro-batch of three lengths: right padding must not change any row's numbers
    scorer = ContrastScorer(expert=expert, amateur=amateur, alpha=0.2, max_mask=64, micro_batch=3)
    scored = score_rows(rows, [scorer])
    for row in scored:
        ids, n_prompt = row["contrast_ids"], row["contrast_prompt_len"]
        le, la = _plain_log_probs(expert, ids), _plain_log_probs(amateur, ids)
        steps = range(n_prompt - 1, len(ids) - 1)
        assert len(row["contrast_kl"]) == len(steps) > 0
        for t, p in enumerate(steps):
            kl = float(np.sum(np.exp(le[p]) * (le[p] - la[p])))
            assert row["contrast_kl"][t] == pytest.approx(kl, rel=1e-4, abs=1e-5)
            mask = expert_mask(le[p], 0.2, 64)[0]
            assert row["contrast_mask_ids"][t] == mask.tolist()
            assert row["contrast_logp_expert"][t] == pytest.approx(le[p][mask].tolist(), abs=1e-5)
            assert row["contrast_logp_amateur"][t] == pytest.approx(la[p][mask].tolist(), abs=1e-5)
    assert max(max(r["contrast_kl"]) for r in scored) > 0.01  # two different models really are compared


def test_a_pair_with_different_tokenizers_is_refused_naming_both(pair, tmp_path):
    expert, amateur = pair
    other = tmp_path / "other-amateur"
    shutil.copytree(amateur, other)
    tok = json.loads((other / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = "19", "12"  # the same words under swapped ids: another tokenizer, the same vocabulary size
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (other / "tokenizer.json").write_text(json.dumps(tok))
    check_same_tokenizer(expert, amateur, "world-student", "weak-b")  # the real pair passes
    with pytest.raises(TokenizerMismatchError) as err:
        check_same_tokenizer(expert, str(other), "world-student", "weak-x")
    assert "world-student" in str(err.value) and "weak-x" in str(err.value) and str(other) in str(err.value)
    with pytest.raises(TokenizerMismatchError):  # the scorer refuses too, before loading a model
        ContrastScorer(expert=expert, amateur=str(other))


def test_kl_loss_reads_the_last_non_pad_position_of_a_right_padded_batch(pair):
    import torch
    from transformers import AutoModelForCausalLM

    from w2s_ray.train import soft_label_worker as worker

    model = AutoModelForCausalLM.from_pretrained(pair[0], dtype=torch.float32).eval()
    rows = [{"input_ids": [1, 40, 41], "target_ids": [5, 9], "target_probs": [0.75, 0.25]},
            {"input_ids": [1, 40, 41, 42, 43, 44], "target_ids": [7], "target_probs": [1.0]}]
    batch = worker.collate(pad_id=0)(rows)
    assert batch["input_ids"][0].tolist() == [1, 40, 41, 0, 0, 0]  # right-padded

    def loss_of(b):
        with torch.no_grad():
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        return worker.soft_label_kl(logits, b["attention_mask"], b["target_ids"], b["target_probs"],
                                    b["target_mask"]).item()

    alone = [loss_of(worker.collate(pad_id=0)([r])) for r in rows]  # no padding at all
    assert loss_of(batch) == pytest.approx(sum(alone) / 2, rel=1e-5)
    # The public code's mistake, index -1, reads row 0's logits at a pad: the same check fails on it.
    real = worker.last_positions
    worker.last_positions = lambda mask: torch.full((mask.shape[0],), mask.shape[1] - 1)
    try:
        assert loss_of(batch) != pytest.approx(sum(alone) / 2, rel=1e-5)
    finally:
        worker.last_positions = real
    # by hand for the single-target row: KL(v || q) with v = (1) on token 7 is -log q(7)
    with torch.no_grad():
        logq = torch.log_softmax(model(input_ids=torch.tensor([rows[1]["input_ids"]])).logits[0, -1], -1)
    assert alone[1] == pytest.approx(-logq[7].item(), rel=1e-5)


def _kl_to_targets(model_dir: str, rows: list[dict]) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    from w2s_ray.train.soft_label_worker import collate, soft_label_kl

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    batch = collate(pad_id=0)(rows)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return soft_label_kl(logits, batch["attention_mask"], batch["target_ids"], batch["target_probs"],
                         batch["target_mask"]).item()


@pytest.mark.slow
@long_test  # a Ray Train run (~25 s); the KL loss and targets are tested above without Ray
def test_soft_label_training_on_ray_train_moves_the_student_toward_the_targets(pair, tmp_path, ray_local):
    from safetensors.torch import load_file

    from w2s_ray.train import LoraSettings, TrainConfig
    from w2s_ray.train.objectives import train_objective

    base = pair[0]
    rows = [{"input_ids": [1, 40 + i, 41, 42][: 2 + i % 3], "target_ids": [50 + i, 60],
             "target_probs": [0.75, 0.25], "kl": 0.9} for i in range(8)]
    config = TrainConfig(objective="soft_kl", num_workers=1, epochs=6, lr=2e-2, per_device_batch_size=4,
                         logging="none", lora=LoraSettings(r=8, alpha=16, target_modules=["q_proj", "v_proj"]))
    result = train_objective(rows, base, tmp_path / "model", config)
    assert result.metrics["supervised_tokens"] == 8 * 6
    assert result.metrics["tokens"] == 6 * sum(len(r["input_ids"]) for r in rows)  # non-pad tokens only
    assert _kl_to_targets(str(tmp_path / "model"), rows) < 0.75 * _kl_to_targets(base, rows)  # 9.6 -> 5.4 seen
    # LoRA on q/v, merged: those weights moved, nothing else did
    before, after = load_file(f"{base}/model.safetensors"), load_file(str(tmp_path / "model" / "model.safetensors"))
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in moved)
    with pytest.raises(ValueError, match="row 1 field 'target_probs' is not a distribution"):
        train_objective([rows[0], {**rows[1], "target_probs": [0.5, 0.1]}], base, tmp_path / "bad", config)


BASE_YAML = "strong: {name: s, model: m}\nweak:\n  - name: a\n    model: m\n"


def test_a_light_reasoner_section_belongs_to_its_recipe_and_leaves_other_hashes_alone(tmp_path):
    from w2s_ray.config import ConfigError, load_config

    path = tmp_path / "run.yaml"
    path.write_text(BASE_YAML + "light_reasoner: {beta: 0.5}\n")
    with pytest.raises(ConfigError, match="section 'light_reasoner' belongs to recipe 'light_reasoner'"):
        load_config(path)  # recipe: w2s_reasoning (the default)
    path.write_text(BASE_YAML + "recipe: light_reasoner\nlight_reasoner: {beta: 0.5, max_tokens: 129}\n")
    with pytest.raises(ConfigError, match="light_reasoner.max_tokens"):
        load_config(path)  # the paper's cap: <= 128 new tokens
    path.write_text(BASE_YAML + "recipe: light_reasoner\nlight_reasoner: {beta: 0.5}\n")
    lr = load_config(path).light_reasoner
    kl = lr.kl_train_config(load_config(path).train)
    assert (kl.objective, kl.lr, kl.lora.r, kl.lora.alpha, kl.lora.target_modules) == \
        ("soft_kl", 5e-5, 8, 16, ["q_proj", "v_proj"])
    # a config without the section: the section is not in its hash
    path.write_text(BASE_YAML)
    assert "light_reasoner" not in load_config(path).model_dump(exclude_none=True)
    shipped = {"demo": "f0f6901e488a2b95", "demo-w2s": "1270dd7e8d5cece7", "demo-smollm2": "b2e5d4df5ac8350f"}
    for name, expected in shipped.items():
        assert load_config(f"configs/{name}.yaml").config_hash() == expected


def test_the_testbed_config_pairs_the_pretrained_student_with_a_less_pretrained_amateur():
    from w2s_ray.config import load_config

    config = load_config("configs/demo-lightreasoner.yaml")
    assert config.recipe == "light_reasoner" and config.strong.model == "world-student"
    from w2s_ray.models.strong_student import DEFAULT_STUDENTS

    expert, amateur = DEFAULT_STUDENTS["world-student"], DEFAULT_STUDENTS[config.weak[0].model]
    # The same corpus (so the same prose and tokenizer), less pretraining.
    assert amateur.corpus_spec() == expert.corpus_spec() and amateur.max_steps < expert.max_steps
    assert config.light_reasoner.max_tokens <= 128


def test_plan_lists_the_contrast_pool_and_the_lora_kl_training():
    from w2s_ray.config import load_config
    from w2s_ray.raycluster.plan import stage_asks

    asks = {a.stage: a for a in stage_asks(load_config("configs/demo-lightreasoner.yaml"), "cpu", 2)}
    assert asks["score contrast"].units == 1 and "LoRA r=8" in asks["light_reasoner train"].what
