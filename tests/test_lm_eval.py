"""The lm-evaluation-harness task `w2s lm-eval-task` writes, and the lock of the lm-eval extra.

The end-to-end test, lm-eval 0.4.13's `local-completions` on the served student against `w2s eval
--endpoint`, is in tests/test_serve_app.py, on that module's server (a vLLM replica's start is most of
its cost); tests/lm_eval_run.py runs lm-eval there from its own venv (.venv-lmeval).
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from w2s_ray.cli import main as w2s
from w2s_ray.config import EvalConfig
from w2s_ray.data.loaders import load_problems
from w2s_ray.eval.endpoint import eval_settings
from w2s_ray.eval.lm_eval_task import ANSWER_REGEX, REGEXES_TO_IGNORE
from w2s_ray.text.prompts import zero_shot

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lm-eval.lock"

GSM8K_LINES = [
    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                 "How many clips did Natalia sell altogether in April and May?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"},
    {"question": "A shop sells 1,234 pens a day. How many pens does it sell in 2 days?",
     "answer": "1,234 * 2 = 2,468\n#### 2,468"},
]


def _gsm8k_file(tmp_path: Path) -> Path:
    path = tmp_path / "gsm8k_test.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in GSM8K_LINES))
    return path


def _lm_eval_render(template: str, doc: dict) -> str:
    """lm-eval renders doc_to_text / doc_to_target with Jinja2 over the document (utils.apply_template)."""
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(**doc)


def _strict_match(text: str) -> str:
    """What the task's filter (regex, take_first) and exact_match's regexes_to_ignore leave of a reply."""
    found = re.findall(ANSWER_REGEX, text)
    answer = found[0] if found else "[invalid]"
    for pattern in REGEXES_TO_IGNORE:
        answer = re.sub(pattern, "", answer)
    return answer.lower()


def test_gsm8k_file_becomes_a_task_whose_prompt_is_the_loops(tmp_path, capsys):
    code = w2s(["lm-eval-task", "--data", str(_gsm8k_file(tmp_path)), "--out", str(tmp_path / "task"),
                "--name", "gsm8k_local"])
    out = capsys.readouterr().out
    assert code == 0, out
    task = yaml.safe_load((tmp_path / "task" / "gsm8k_local.yaml").read_text())
    data = Path(task["dataset_kwargs"]["data_files"]["test"])
    # datasets' `json` builder on a local file: no hub, and an absolute path (lm-eval's cwd is its own)
    assert task["dataset_path"] == "json" and data.is_absolute() and data == tmp_path / "task" / "gsm8k_local.jsonl"
    assert task["task"] == "gsm8k_local" and task["output_type"] == "generate_until" and task["num_fewshot"] == 0
    # greedy, with the loop's eval settings (RunConfig defaults without a run)
    default, _ = eval_settings(None)
    assert task["generation_kwargs"] == {"until": default.stop, "do_sample": False, "temperature": 0.0,
                                         "max_gen_toks": EvalConfig().max_tokens}
    # The JSONL is our own schema: `w2s eval --data` reads the very problems lm-eval asks.
    problems = [p.to_row() for p in load_problems(str(data), "w2s").problems]
    assert [p["gold"] for p in problems] == ["72", "2468"]  # "#### 2,468": the loader's normalised gold
    for doc in problems:
        assert _lm_eval_render(task["doc_to_text"], doc) == zero_shot(doc["question"])
        assert _lm_eval_render(task["doc_to_target"], doc) == doc["gold"]
    assert "lm_eval --model local-completions" in out and "--include_path" in out


def test_strict_match_reads_the_gsm8k_final_line():
    assert _strict_match(" 48 / 2 = 24\n48 + 24 = 72\n#### 72") == "72"
    assert _strict_match(" 1234 * 2 = 2468\n#### 2,468.") == "2468"
    assert _strict_match(" 5 - 8 = -3\n#### -3") == "-3"
    assert _strict_match(" The answer is 72.") == "[invalid]"  # answer_check would take it; lm-eval not


def test_config_gives_its_test_split_and_eval_settings(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "name": "c", "run_dir": str(tmp_path / "run"),
        "data": {"source": "world", "seed": 0, "n_weak_train": 64, "n_strong_train": 24, "n_test_per_level": 2},
        "weak": [{"name": "w", "model": "weak-b"}], "strong": {"name": "s", "model": "world-student",
                                                             "stop": ["\n\n"]},
        "eval": {"max_tokens": 40}}))
    assert w2s(["lm-eval-task", "--config", str(config), "--out", str(tmp_path / "t")]) == 0
    task = yaml.safe_load((tmp_path / "t" / "w2s_test.yaml").read_text())
    assert task["generation_kwargs"]["until"] == ["\n\n"] and task["generation_kwargs"]["max_gen_toks"] == 40
    rows = [json.loads(line) for line in (tmp_path / "t" / "w2s_test.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and all(r["source"] == "world" and r["gold"] for r in rows)
    capsys.readouterr()


def test_math_data_and_settings_without_data_are_refused(tmp_path, capsys):
    math = tmp_path / "math.jsonl"
    math.write_text(json.dumps({"problem": "1+1?", "solution": "\\boxed{2}", "level": "Level 1"}) + "\n")
    assert w2s(["lm-eval-task", "--data", str(math), "--out", str(tmp_path / "t")]) == 2
    assert "'#### N'" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "no final line"}) + "\n")
    assert w2s(["lm-eval-task", "--data", str(bad), "--out", str(tmp_path / "t")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    gsm8k = _gsm8k_file(tmp_path)
    assert w2s(["lm-eval-task", "--config", str(gsm8k), "--settings-from", str(tmp_path), "--out", str(tmp_path / "t")]) == 2
    assert "--settings-from goes with --data" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_lock_pins_lm_eval_and_the_extra_without_torch():
    from packaging.requirements import Requirement

    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"not an exact pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    assert pins["lm-eval"] == "0.4.13"
    assert "torch" not in pins  # the extra's venv stays small: lm-eval sends text to the server
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lm-eval"]
    for spec in extra:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in pins and req.specifier.contains(pins[name]), (spec, pins.get(name))
    # lm-eval[api]'s own requirements are in the lock too (the venv is installed with --no-deps)
    for name in ("requests", "aiohttp", "tenacity", "tqdm", "tiktoken", "datasets", "evaluate", "transformers"):
        assert name in pins, name
