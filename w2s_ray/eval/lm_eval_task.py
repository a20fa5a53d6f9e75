"""An lm-evaluation-harness task over a testbed's test split or local GSM8K-format JSONL, for a
server such as `w2s serve` (lm-eval's `local-completions` model on its /v1/completions).

`w2s lm-eval-task --out DIR (--run-dir RUN_DIR | --config CONFIG | --data FILE.jsonl)` (its body is
serve.commands.lm_eval_task) writes, with write_task:
  DIR/NAME.jsonl  the problems in our own schema, so `w2s eval --endpoint URL --data DIR/NAME.jsonl`
                  asks the very same problems;
  DIR/NAME.yaml   the task (`lm_eval --include_path DIR --tasks NAME`);
and prints the lm_eval command (lm_eval_command). The task asks what the loop's eval asks
(eval.endpoint.eval_settings): the zero-shot prompt of text.prompts, greedy, the same stop strings and
max_tokens. It reads its data with datasets' `json` builder from the JSONL's absolute path (no
download: it works with HF_HUB_OFFLINE=1), and scores as lm-eval's own gsm8k task does: the number
after "#### " (regex filter), exact match against the gold answer.

That is a stricter reading than `w2s eval`'s answer_check, which also takes "The answer is N", a
\\boxed{} answer and numerically equal spellings ("20.0" for "20"): the two agree on a model that
writes "#### N", as the testbed's models do (tests/test_serve_app.py holds lm-eval's exact match equal
to `w2s eval --endpoint`'s accuracy, problem by problem, on a served checkpoint).

lm-eval is not a dependency of the package: `make lm-eval-venv` installs it from
requirements/lm-eval.lock into a venv of its own (.venv-lmeval). This module needs only PyYAML.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from w2s_ray.text.prompts import TEMPLATE

DEFAULT_NAME = "w2s_test"
# lm-eval's gsm8k task ("strict-match"): the number after "#### ", compared with the gold answer
# once commas, "$", a trailing "." and anything up to "#### " are dropped from both.
ANSWER_REGEX = r"#### (\-?[0-9\.\,]+)"
REGEXES_TO_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]
ROW_FIELDS = ("id", "question", "gold", "solution", "level", "source")


@dataclass
class LmEvalTask:
    name: str
    yaml_path: Path
    data_path: Path
    n_problems: int


def doc_to_text() -> str:
    """The zero-shot prompt of text.prompts as a Jinja template over a document's `question`."""
    return TEMPLATE.replace("{question}", "{{question}}")


def task_config(name: str, data_path: Path, stop: Sequence[str], max_tokens: int) -> dict:
    """The lm-eval task: one `test` split read from data_path, generate_until, greedy, strict match."""
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(Path(data_path).resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": doc_to_text(),
        "doc_to_target": "{{gold}}",
        "num_fewshot": 0,
        "generation_kwargs": {"until": list(stop), "do_sample": False, "temperature": 0.0,
                              "max_gen_toks": int(max_tokens)},
        "filter_list": [{"name": "strict-match", "filter": [
            {"function": "regex", "regex_pattern": ANSWER_REGEX},
            {"function": "take_first"}]}],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         "ignore_case": True, "ignore_punctuation": False,
                         "regexes_to_ignore": list(REGEXES_TO_IGNORE)}],
        "metadata": {"version": 1.0},
    }


class _Dumper(yaml.SafeDumper):
    """Strings with a line break in double quotes ("\\n\\n"), as a person would write them."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style='"' if "\n" in value else None))


def write_task(out_dir: str | Path, problems: Sequence[dict], *, name: str = DEFAULT_NAME,
               stop: Sequence[str], max_tokens: int) -> LmEvalTask:
    """Write out_dir/NAME.jsonl (problem rows with a gold answer) and out_dir/NAME.yaml."""
    from w2s_ray.data.jsonl import write_jsonl

    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"task name {name!r}: letters, digits, '_' and '-' only")
    rows = [{k: p.get(k) for k in ROW_FIELDS} for p in problems if p.get("gold")]
    if not rows:
        raise ValueError("no problem with a gold answer to evaluate")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path, yaml_path = (out_dir / f"{name}.jsonl").resolve(), (out_dir / f"{name}.yaml").resolve()
    write_jsonl(data_path, rows)
    text = yaml.dump(task_config(name, data_path, stop, max_tokens), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True)
    yaml_path.write_text("# Written by `w2s lm-eval-task` (w2s_ray/eval/lm_eval_task.py).\n" + text)
    return LmEvalTask(name, yaml_path, data_path, len(rows))


def lm_eval_command(task: LmEvalTask, *, base_url: str = "http://127.0.0.1:8000/v1", model: str = "MODEL",
                    tokenizer: str = "CHECKPOINT_DIR", num_concurrent: int = 4,
                    output_path: str | None = None, lm_eval: str = "lm_eval") -> list[str]:
    """The lm_eval command line for `task` against an OpenAI-compatible server at base_url (/v1).

    `tokenizer` is a directory with the served checkpoint's tokenizer files (its snapshot in
    RUN_DIR/serve/checkpoints/): lm-eval reads the EOS string from it. Requests go as text
    (tokenized_requests=False), so the server tokenizes them as it does every other request.
    A bearer token goes in $OPENAI_API_KEY, which local-completions sends.
    """
    from w2s_ray.eval.endpoint import base_url as with_v1

    model_args = ",".join([f"model={model}", f"base_url={with_v1(base_url)}/completions", f"tokenizer={tokenizer}",
                           "tokenized_requests=False", f"num_concurrent={num_concurrent}", "max_retries=3"])
    command = [lm_eval, "--model", "local-completions", "--model_args", model_args,
               "--include_path", str(task.yaml_path.parent), "--tasks", task.name, "--batch_size", "1"]
    if output_path:
        command += ["--output_path", output_path, "--log_samples"]
    return command
