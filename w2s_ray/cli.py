"""`w2s` command line."""
from __future__ import annotations

import argparse
import sys

from w2s_ray.config import ConfigError, load_config


def _cmd_before_supervision(args) -> int:
    from w2s_ray.recipes import before_supervision

    config = load_config(args.config)
    before_supervision.run(config)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w2s", description="weak-to-strong loops on Ray")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("demo", "the demo: weak and strong models on the demo world's test split"),
        ("baseline", "accuracy by level of every configured model before any weak supervision"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config", default="configs/demo.yaml" if name == "demo" else None,
                       required=name != "demo")
        p.set_defaults(func=_cmd_before_supervision)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"w2s: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
