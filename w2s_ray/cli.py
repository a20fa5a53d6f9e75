"""`w2s` command line: run, resume, report, demo."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from w2s_ray.config import ConfigError, RunConfig, load_config


def _finish(run_dir: str) -> int:
    from w2s_ray.eval.report import write_report

    write_report(run_dir)
    print((Path(run_dir) / "report.md").read_text())
    return 0


def _cmd_run(args) -> int:
    from w2s_ray.loop.driver import run

    config = load_config(args.config)
    if getattr(args, "run_dir", None):
        config = config.model_copy(update={"run_dir": args.run_dir})
    run(config)
    return _finish(config.run_dir)


def _cmd_resume(args) -> int:
    from w2s_ray.loop.driver import run
    from w2s_ray.manifest import Manifest

    manifest = Manifest.load(args.run_dir)
    config = RunConfig.model_validate(manifest.config)
    if Path(config.run_dir).resolve() != Path(args.run_dir).resolve():
        config = config.model_copy(update={"run_dir": args.run_dir})
    run(config)
    return _finish(args.run_dir)


def _cmd_report(args) -> int:
    return _finish(args.run_dir)


def _cmd_compare(args) -> int:
    from w2s_ray.eval.compare import write_compare

    print(write_compare(args.run_dirs, args.out))
    print(f"written: {Path(args.out) / 'compare.md'} and compare.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w2s", description="weak-to-strong loops on Ray")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a config: baselines, then the rounds")
    p.add_argument("config")
    p.add_argument("--run-dir", help="override the config's run_dir")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("demo", help="the CPU demo (configs/demo.yaml)")
    p.add_argument("--config", default="configs/demo.yaml")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("resume", help="continue a run at its first unfinished stage")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_resume)
    p = sub.add_parser("report", help="write report.md, report.json and report.png for a run")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("compare", help="one table over runs: weak, full weak FT, rounds, stage II, ceiling")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=".", help="where compare.md and compare.json go (default: here)")
    p.set_defaults(func=_cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from w2s_ray.loop.steps import EmptyTrainingSet
    from w2s_ray.manifest import ManifestError
    from w2s_ray.stage_io import CorruptStageError

    try:
        return args.func(args)
    except ConfigError as err:
        print(f"w2s: {err}", file=sys.stderr)
        return 2
    except (CorruptStageError, ManifestError, EmptyTrainingSet) as err:
        print(f"w2s: {type(err).__name__}: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
