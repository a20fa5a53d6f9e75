"""An lm-evaluation-harness task over a testbed's test split or local GSM8K-format JSONL, for a
server such as `w2s serve` (lm-eval's `local-completions` model on its /v1/completions).

    w2s lm-eval-task --out DIR (--config CONFIG | --run-dir RUN_DIR | --data FILE.jsonl)

writes DIR/NAME.jsonl (the problems, in our own schema, so that `w2s eval --endpoint URL --data
DIR/NAME.jsonl` asks the very same problems) and DIR/NAME.yaml (the task; `lm_eval --include_path DIR
--tasks NAME`), and prints the lm_eval command. The task asks what the loop's eval asks
(eval.endpoint.eval_settings): the zero-shot prompt of text.prompts, greedy, the same stop strings
and max_tokens. It reads its data with datasets' `json` builder from the absolute path of the JSONL
(no download; it works with HF_HUB_OFFLINE=1), and scores as lm-eval's own gsm8k task does: the number
after "#### " (regex filter), exact match against the gold answer.

That is a stricter reading than `w2s eval`'s answer_check, which also takes "The answer is N", a
\\boxed{} answer and numerically equal spellings ("20.0" for "20"): the two agree on a model that
writes "#### N", as the testbed's do (tests/test_lm_eval.py holds lm-eval's exact match equal to
`w2s eval --endpoint`'s accuracy on a served checkpoint).

lm-eval itself is not a dependency of the package: `make lm-eval-venv` installs it from
requirements/lm-eval.lock into its own venv (.venv-lmeval). This module needs only PyYAML.
"""
from __future__ import annotations

import argparse
import shlex
import sys
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


def _problems(args) -> tuple[list[dict], str]:
    """(problem rows, where they came from) for the CLI's source options."""
    from w2s_ray.data.loaders import load_problems
    from w2s_ray.data.sources import load_splits

    if args.data:
        result = load_problems(args.data, args.format)
        if _data_format(args.data, args.format) == "math":
            raise ValueError(f"{args.data}: MATH-format data; the task's answer filter is GSM8K's '#### N' "
                             "(use GSM8K or w2s-format JSONL)")
        return [p.to_row() for p in result.problems], args.data
    config = _config(args)
    splits, _ = load_splits(config.data)
    return [p.to_row() for p in splits["test"]], f"the test split of {args.config or args.run_dir}"


def _data_format(path: str, format: str) -> str:
    """The format load_problems read `path` in (its first record's, for "auto")."""
    from w2s_ray.data.formats import detect_format
    from w2s_ray.data.jsonl import iter_jsonl

    if format != "auto" or str(path).startswith("hf:"):
        return format
    first = next((line.value for line in iter_jsonl(path) if isinstance(line.value, dict)), None)
    return detect_format(first) if first is not None else format


def _config(args):
    if args.run_dir:
        from w2s_ray.serve.commands import run_config

        return run_config(args.run_dir)
    if args.config:
        from w2s_ray.config import load_config

        return load_config(args.config)
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="a run config: its data's test split (and its eval settings)")
    source.add_argument("--run-dir", help="a run: its test split, eval settings and served checkpoint")
    source.add_argument("--data", help="JSONL problems, GSM8K ({question, answer: '... #### N'}) or our schema")
    parser.add_argument("--format", default="auto", choices=["auto", "gsm8k", "w2s", "math"],
                        help="--data's format (default: from its keys)")
    parser.add_argument("--settings-from", metavar="RUN_DIR",
                        help="with --data: take max_tokens and stop from this run's config")
    parser.add_argument("--out", required=True, help="directory for NAME.yaml and NAME.jsonl")
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"the task's name (default {DEFAULT_NAME})")
    parser.add_argument("--max-tokens", type=int, help="override the eval's max_tokens (lm-eval's max_gen_toks)")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000/v1", help="for the printed command")


def run(args) -> int:
    from w2s_ray.eval.endpoint import eval_settings

    if args.settings_from and not args.data:
        raise ValueError("--settings-from goes with --data (--config and --run-dir give their own settings)")
    problems, where = _problems(args)
    if args.settings_from:
        from w2s_ray.serve.commands import run_config

        config = run_config(args.settings_from)
    else:
        config = _config(args)
    teacher, _ = eval_settings(config, args.max_tokens)
    task = write_task(args.out, problems, name=args.name, stop=teacher.stop, max_tokens=teacher.max_tokens)
    model, tokenizer = "MODEL", "CHECKPOINT_DIR"
    if args.run_dir:
        from w2s_ray.serve.promotion import read_latest

        latest = read_latest(args.run_dir)
        model = config.name  # the alias of whatever round is latest
        if latest is not None:
            tokenizer = str(latest.abs_path(args.run_dir))
    print(f"{task.n_problems} problems ({where}): {task.data_path}")
    print(f"task {task.name!r}: {task.yaml_path} (greedy, max_gen_toks {teacher.max_tokens}, "
          f"until {teacher.stop})")
    command = lm_eval_command(task, base_url=args.endpoint, model=model, tokenizer=tokenizer)
    print("run it against the server (a bearer token goes in $OPENAI_API_KEY):")
    print("  " + shlex.join(command))
    print(f"the same problems through `w2s eval`: w2s eval --endpoint {args.endpoint} --data {task.data_path}"
          + (f" --run-dir {args.run_dir}" if args.run_dir else ""))
    return 0


if __name__ == "__main__":
    from w2s_ray.cli import main

    sys.exit(main(["lm-eval-task", *sys.argv[1:]]))
