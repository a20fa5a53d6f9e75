"""The multi_capability recipe's confidence-loss baseline (recipes/multi_capability/choice_rows.py,
logconf_baseline.py, score/option_choice.py): rows from weak answers with votes and quarantine counts,
the option scorer against log-probs computed with transformers directly, the config flag and the
report's paired finding from hand-made rows."""
from __future__ import annotations

import pytest

from w2s_ray.config import RunConfig
from w2s_ray.config.base import hash_exclude
from w2s_ray.data.capabilities import generate_problems
from w2s_ray.recipes.multi_capability.choice_rows import (choice_prompt, option_index, option_token_ids,
                                                          weak_choice_rows)
from w2s_ray.recipes.multi_capability.config import MultiCapabilityConfig
from w2s_ray.recipes.multi_capability.keys import LOGCONF, PLAIN_CE
from w2s_ray.recipes.multi_capability.logconf_baseline import eval_rows
from w2s_ray.recipes.multi_capability.metrics import ALL
from w2s_ray.recipes.multi_capability.report import logconf_findings
from w2s_ray.train.confidence import validate_confidence_rows

WORDS = {" yes": 1, " no": 2, " unknown": 3, " A": 4, " B": 5, " C": 6, " D": 7}


def _option_ids(text: str) -> list[int]:
    return [WORDS[text]] if text in WORDS else [90, 91]


def _encode(text: str) -> list[int]:
    return [len(w) for w in text.split()]  # any deterministic ids: the rows carry what encode returns


def _gen(problem, model: str, index: int, text: str) -> dict:
    return {"problem_id": problem.id, "model": model, "sample_index": index, "question": problem.question,
            "capability": problem.capability, "level": problem.level, "text": text}


def test_options_parse_to_their_index_and_nothing_else():
    assert option_index("logic", ("yes", "no", "unknown"), "Tom is a dax\nVerdict: Unknown.") == 2
    assert option_index("facts", ("A", "B", "C", "D"), "zorpli @ sea\nChoice: (B)") == 1
    assert option_index("logic", ("yes", "no", "unknown"), "Verdict: maybe") is None
    assert option_index("facts", ("A", "B", "C", "D"), None) is None
    assert choice_prompt("logic", "Is Tom a dax?") == "Question: Is Tom a dax?\nAnswer: Verdict:"
    with pytest.raises(ValueError, match="option 'maybe' is 2 tokens"):
        option_token_ids(_option_ids, ("yes", "maybe"))


def test_weak_rows_are_vote_shares_with_unparseable_samples_quarantined_and_counted():
    logic = generate_problems("logic", 3, seed=0)
    facts = generate_problems("facts", 1, seed=0)[0]
    commands = generate_problems("commands", 1, seed=0)[0]
    gens = [_gen(logic[0], "wa", 0, "Verdict: yes"), _gen(logic[0], "wa", 1, "Verdict: yes"),
            _gen(logic[0], "wa", 2, "Verdict: no"), _gen(logic[0], "wa", 3, "I think so"),
            _gen(logic[0], "wb", 0, "Verdict: unknown"),          # another teacher: its own row
            _gen(logic[1], "wa", 0, "no verdict at all"),         # no sample parses: no row
            _gen(facts, "wa", 0, "Choice: C"),
            _gen(commands, "wa", 0, "OUT: JUMP"),
            {"problem_id": "arith-1", "model": "wa", "sample_index": 0, "question": "2 + 2?", "text": "#### 4"}]
    sel = weak_choice_rows(gens, _encode, _option_ids)
    by = {(r["problem_id"], r["source_model"]): r for r in sel.rows}
    assert by[(logic[0].id, "wa")]["weak_probs"] == [2 / 3, 1 / 3, 0.0]
    assert by[(logic[0].id, "wb")]["weak_probs"] == [0.0, 0.0, 1.0]
    assert by[(facts.id, "wa")]["weak_probs"] == [0.0, 0.0, 1.0, 0.0]
    assert by[(facts.id, "wa")]["choice_ids"] == [4, 5, 6, 7] and by[(logic[0].id, "wa")]["choice_ids"] == [1, 2, 3]
    assert by[(logic[0].id, "wa")]["input_ids"] == _encode(choice_prompt("logic", logic[0].question))
    assert (logic[1].id, "wa") not in by and len(sel.rows) == 3
    assert (sel.n_in, sel.kept, sel.dropped) == (9, 5, {"not_a_choice": 2, "unparseable": 2})
    assert sel.extra["problems_without_parsed_answer"] == 1
    assert sorted(q["text"] for q in sel.extra["quarantined"]) == ["I think so", "no verdict at all"]
    assert len(validate_confidence_rows(sel.rows)) == 3  # what the logconf objective trains on


def test_the_flag_is_off_by_default_hashes_as_before_and_needs_a_choice_capability():
    section = {"capabilities": ["arithmetic", "logic", "commands"]}
    assert hash_exclude(MultiCapabilityConfig(**section)).get("logconf") is True
    assert "logconf" not in hash_exclude(MultiCapabilityConfig(**section, logconf=True))
    base = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"},
            "recipe": "multi_capability"}
    RunConfig.model_validate({**base, "multi_capability": {**section, "logconf": True}})
    with pytest.raises(ValueError, match="needs a choice capability"):
        RunConfig.model_validate({**base, "multi_capability": {"capabilities": ["arithmetic", "commands"], "logconf": True}})


def test_eval_rows_hold_only_choice_problems_in_the_accuracy_shape():
    problems = [p.to_row() for name in ("logic", "commands") for p in generate_problems(name, 2, seed=1)]
    rows = eval_rows(problems, "logconf")
    assert [r["capability"] for r in rows] == ["logic", "logic"]
    assert all(r["has_gold"] and r["model"] == "logconf" and r["gold"] in ("yes", "no", "unknown") for r in rows)


def test_logconf_against_plain_ce_is_paired_per_choice_capability_and_over_all():
    ids = {"logic": ["l1", "l2", "l3", "l4"], "facts": ["f1", "f2"], "commands": ["c1"]}
    ids[ALL] = [p for v in ids.values() for p in v]
    correct = {LOGCONF: {"l1": 1.0, "l2": 1.0, "l3": 1.0, "l4": 0.0, "f1": 0.0, "f2": 0.0},
               PLAIN_CE: {"l1": 1.0, "l2": 0.0, "l3": 0.0, "l4": 0.0, "f1": 1.0, "f2": 0.0}}
    found = {f["id"]: f for f in logconf_findings(correct, ids, ["logic", "commands", "facts"])}
    assert list(found) == ["logconf>plain_ce:logic", "logconf>plain_ce:facts", "logconf>plain_ce:all"]
    assert found["logconf>plain_ce:logic"]["diff"] == pytest.approx(0.5)
    assert found["logconf>plain_ce:facts"]["diff"] == pytest.approx(-0.5)
    assert found["logconf>plain_ce:all"]["diff"] == pytest.approx(1 / 6) and found["logconf>plain_ce:all"]["n_test"] == 6
    assert logconf_findings({LOGCONF: correct[LOGCONF]}, ids, ["logic"])[0]["verdict"] == "not run"


def test_the_option_scorer_reads_each_options_log_prob_after_the_prompt(tmp_path):
    import numpy as np
    import torch

    from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
    from w2s_ray.models.word_tokenizer import build_world_tokenizer
    from w2s_ray.score.option_choice import OptionChoiceScorer

    tokenizer = build_world_tokenizer(("logic", "facts"))
    model = build_tiny_llama(tokenizer, TinyLlamaShape(hidden=64, layers=1, heads=2, head_dim=32, init_std=0.5,
                                                       max_positions=256), seed=0)
    save_model_dir(model, tokenizer, tmp_path / "m")
    problems = [*generate_problems("logic", 2, seed=2), *generate_problems("facts", 1, seed=2)]
    rows = eval_rows([p.to_row() for p in problems], "m")  # what the recipe's option_eval stage scores
    batch = {column: np.array([r[column] for r in rows], dtype=object)  # Ray Data's numpy batches
             for column in ("prompt", "options", "mark", "capability", "gold")}
    scorer = OptionChoiceScorer(model_path=str(tmp_path / "m"), device="cpu", forward_batch_size=2)
    out = scorer(batch)
    model.eval()
    for i, p in enumerate(problems):
        opts = ("yes", "no", "unknown") if p.capability == "logic" else ("A", "B", "C", "D")
        ids = tokenizer(choice_prompt(p.capability, p.question))["input_ids"]
        with torch.no_grad():  # each prompt alone, unpadded
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
        expected = [logprobs[tokenizer.convert_tokens_to_ids("\u0120" + o)].item() for o in opts]
        assert out["option_logprobs"][i] == pytest.approx(expected, abs=1e-4)
        best = opts[max(range(len(opts)), key=expected.__getitem__)]
        assert out["answer"][i] == best.lower() and out["correct"][i] == (best.lower() == p.gold.lower())
        assert out["text"][i] == f"{'Verdict:' if p.capability == 'logic' else 'Choice:'} {best}"
