"""`w2s` command line: run, resume, report, demo, compare, serve, eval, lm-eval-task."""
from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from w2s_ray.config import ConfigError, check_trackers, load_config, validate_config


def _finish(run_dir: str, report_to: list[str]) -> int:
    """Write the run's report, print it, and log its metrics to the trackers of train.report_to."""
    from w2s_ray.eval.report import write_report
    from w2s_ray.eval.trackers import log_report

    report = write_report(run_dir)
    print((Path(run_dir) / "report.md").read_text())
    try:
        for tracker, run_id in log_report(report, report_to, run_dir).items():
            print(f"w2s: report logged to {tracker} (run {run_id})", file=sys.stderr)
    except RuntimeError as err:  # the run and its report are complete; only the tracker missed them
        print(f"w2s: {err}", file=sys.stderr)
        return 1
    return 0


def _cmd_run(args) -> int:
    from w2s_ray.data.sources import load_splits
    from w2s_ray.raycluster.runtime import job_safe_path

    config = load_config(args.config, sets=getattr(args, "set", None) or [])
    check_trackers(config, args.config)
    if getattr(args, "run_dir", None):
        config = config.model_copy(update={"run_dir": args.run_dir})
    config = config.model_copy(update={"run_dir": job_safe_path(config.run_dir, "run_dir")})
    if config.data.quarantine_dir:
        config.data.quarantine_dir = job_safe_path(config.data.quarantine_dir, "data.quarantine_dir")
    # The config and its data files are read before torch, Ray and vLLM are imported (~5-10 s):
    # a bad file is answered at once. The run then uses what was read here.
    data = load_splits(config.data)
    from w2s_ray.run.driver import run

    run = partial(run, data=data)
    if getattr(args, "serve", False):
        from w2s_ray.serve.commands import serving_alongside

        with serving_alongside(config) as keep_serving:
            run(config)
            code = _finish(config.run_dir, config.train.report_to)
            keep_serving()
        return code
    run(config)
    return _finish(config.run_dir, config.train.report_to)


def _cmd_plan(args) -> int:
    from w2s_ray.raycluster.plan import plan

    config = load_config(args.config, sets=args.set or [])
    try:
        return plan(config, declared=args.cluster, with_serve=args.serve)
    except ValueError as err:  # a malformed --cluster
        print(f"w2s: {err}", file=sys.stderr)
        return 2


def _cmd_resume(args) -> int:
    from w2s_ray.run.driver import run
    from w2s_ray.run.manifest import Manifest

    from w2s_ray.raycluster.runtime import job_safe_path

    args.run_dir = job_safe_path(args.run_dir, "the run directory to resume")
    manifest = Manifest.load(args.run_dir)
    config = validate_config(manifest.config, manifest.path)
    check_trackers(config, manifest.path)
    if args.from_stage:
        from w2s_ray.run.lock import lock_run_dir

        lock_run_dir(args.run_dir)  # the manifest is edited here, before run() opens it
        dropped = manifest.forget_from(args.from_stage)
        print(f"w2s: redoing {len(dropped)} stages from {args.from_stage}: {dropped}", file=sys.stderr)
    if Path(config.run_dir).resolve() != Path(args.run_dir).resolve():
        config = config.model_copy(update={"run_dir": args.run_dir})
    run(config)
    return _finish(args.run_dir, config.train.report_to)


def _cmd_report(args) -> int:
    # Not logged to trackers: the run or resume that finished the run did, and again would be a second run there.
    return _finish(args.run_dir, [])


def _cmd_compare(args) -> int:
    from w2s_ray.eval.compare import write_compare

    print(write_compare(args.run_dirs, args.out))
    print(f"written: {Path(args.out) / 'compare.md'} and compare.json")
    return 0


def _cmd_serve(args) -> int:
    from w2s_ray.serve.commands import serve_run_dir

    return serve_run_dir(args.run_dir, host=args.host, port=args.port)


def _cmd_eval(args) -> int:
    from w2s_ray.serve.commands import eval_endpoint

    return eval_endpoint(args.endpoint, args.data, data_format=args.format, run_dir=args.run_dir, model=args.model,
                         api_key_env=args.api_key_env, max_tokens=args.max_tokens, concurrency=args.concurrency,
                         out=args.out)


def _cmd_lm_eval_task(args) -> int:
    from w2s_ray.serve.commands import lm_eval_task

    try:
        return lm_eval_task(args.out, config=args.config, run_dir=args.run_dir, data=args.data,
                            data_format=args.format, settings_from=args.settings_from, name=args.name,
                            max_tokens=args.max_tokens, endpoint=args.endpoint)
    except ValueError as err:  # bad data or options (InputError and ConfigError among them)
        print(f"w2s lm-eval-task: {_one_line(err)}", file=sys.stderr)
        return 2


def _add_set(parser) -> None:
    parser.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                        help="change one config field, typed by the config (repeatable), e.g. "
                             "--set train.num_workers=4 --set weak.0.tensor_parallel_size=2")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w2s", description="weak-to-strong loops on Ray")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a config: baselines, then the rounds")
    p.add_argument("config")
    p.add_argument("--run-dir", help="override the config's run_dir")
    _add_set(p)
    p.add_argument("--serve", action="store_true",
                   help="serve each round's student as it is promoted (OpenAI API, config's serve:); "
                        "keeps serving after the run until Ctrl-C")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("plan", help="what each stage asks the cluster for, checked against it; loads no model")
    p.add_argument("config")
    p.add_argument("--cluster", metavar="gpus=N,cpus=N",
                   help="check against these resources instead of the cluster at RAY_ADDRESS / ray.address")
    p.add_argument("--serve", action="store_true", help="serve runs beside the loop (w2s run --serve)")
    _add_set(p)
    p.set_defaults(func=_cmd_plan)
    p = sub.add_parser("demo", help="the CPU demo (configs/demo.yaml)")
    p.add_argument("--config", default="configs/demo.yaml")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("resume", help="continue a run at its first unfinished stage")
    p.add_argument("run_dir")
    p.add_argument("--from", dest="from_stage", metavar="STAGE",
                   help="redo this complete stage and every stage completed after it")
    p.set_defaults(func=_cmd_resume)
    p = sub.add_parser("report", help="write report.md, report.json and report.png for a run")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("compare",
                       help="one table over runs: weak, full weak FT, rounds, stage II, ceiling, a recipe's baselines")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=".", help="where compare.md and compare.json go (default: here)")
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser("serve", help="serve a run's latest student (OpenAI API on 127.0.0.1), follow promotions")
    p.add_argument("run_dir")
    p.add_argument("--host", help="override serve.host (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="override serve.port (0: a free port)")
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("eval", help="accuracy by level through an OpenAI-compatible endpoint")
    p.add_argument("--endpoint", required=True, help="base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--data", required=True, help="JSONL problems (our schema, GSM8K or MATH), or hf:NAME")
    p.add_argument("--format", default="auto", choices=["auto", "gsm8k", "math", "w2s"])
    p.add_argument("--run-dir", help="take the eval settings (max_tokens, stop, scorers) from this run")
    p.add_argument("--model", help="model id (default: the one the endpoint lists)")
    p.add_argument("--api-key-env", default="W2S_SERVE_API_KEY", help="env var holding the bearer token")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--out", help="write the table and the scored rows as JSON here")
    p.set_defaults(func=_cmd_eval)
    p = sub.add_parser("lm-eval-task", help="an lm-evaluation-harness task (YAML + JSONL) of a test split or "
                                            "GSM8K-format file, for lm_eval's local-completions on `w2s serve`")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", help="a run: its test split, eval settings and served checkpoint")
    source.add_argument("--config", help="a run config: its test split and eval settings")
    source.add_argument("--data", help="JSONL problems: GSM8K ({question, answer: '... #### N'}) or our schema")
    p.add_argument("--format", default="auto", choices=["auto", "gsm8k", "w2s", "math"])
    p.add_argument("--settings-from", metavar="RUN_DIR", help="with --data: this run's eval settings")
    p.add_argument("--out", required=True, help="directory for NAME.yaml and NAME.jsonl")
    p.add_argument("--name", default="w2s_test", help="the task's name (default w2s_test)")
    p.add_argument("--max-tokens", type=int, help="lm-eval's max_gen_toks (default: the eval's max_tokens)")
    p.add_argument("--endpoint", default="http://127.0.0.1:8000/v1", help="the server, for the printed command")
    p.set_defaults(func=_cmd_lm_eval_task)
    return parser


# Errors by exit code, named by module so that none is imported to be caught: an error of a module
# that was never imported cannot have been raised, and importing w2s_ray.stages (torch, Ray) just to
# catch a config error would cost the first answer ~5-10 s.
BAD_INPUT = (("w2s_ray.data.schema", "InputError"), ("w2s_ray.models.hub", "ModelNotFoundError"),
             ("w2s_ray.raycluster.runtime", "RelativeJobPathError"), ("w2s_ray.run.file_lock", "LockUnavailableError"),
             ("w2s_ray.raycluster.cuda_check", "GpuUnavailableError"))
BAD_RUN_RECORD = (("w2s_ray.run.stage_io", "CorruptStageError"), ("w2s_ray.run.manifest", "ManifestError"),
                  ("w2s_ray.stages.steps", "EmptyTrainingSet"))
NO_ROOM = (("w2s_ray.raycluster.free_resources", "NoRoomError"), ("w2s_ray.run.file_lock", "LockTimeoutError"))


def _raised(err: BaseException, kinds) -> bool:
    return any(module in sys.modules and isinstance(err, getattr(sys.modules[module], name))
               for module, name in kinds)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Bad input of any kind is one line naming the file (and line, field) and exit code 2: the user
    # fixes a file, a traceback would only hide which one.
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"w2s: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        if _raised(err, BAD_INPUT):
            print(f"w2s: {_one_line(err)}", file=sys.stderr)
            return 2
        if _raised(err, BAD_RUN_RECORD):
            print(f"w2s: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
            return 3
        if _raised(err, NO_ROOM):  # no room for one actor of a stage (as `w2s plan`), or a lock held too long
            print(f"w2s: {_one_line(err)}", file=sys.stderr)
            return 1
        if isinstance(err, OSError) and err.filename is not None:  # a path named on the command line
            print(f"w2s: {err.filename}: {err.strerror}", file=sys.stderr)
            return 2
        if isinstance(err, UnicodeDecodeError):
            print(f"w2s: not UTF-8 (byte {err.start + 1}): {_one_line(err)}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGINT while serving beside a loop
        print("w2s: interrupted; finished stages are kept (`w2s resume RUN_DIR` continues)", file=sys.stderr)
        return 130


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())
