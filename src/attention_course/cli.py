"""The ``attention-course`` command."""

from __future__ import annotations

import argparse
import sys

from attention_course import config


def _profile(args: argparse.Namespace) -> int:
    try:
        profile = config.get_profile(args.name)
    except ValueError as err:
        print(f"attention-course: {err}", file=sys.stderr)
        return 2
    print(config.runtime_summary(profile))
    for key, value in profile.as_dict().items():
        print(f"  {key:>11}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attention-course", description="Tools for the course 'Attention, Step by Step'."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    profile = commands.add_parser("profile", help="show the run profile and device in use")
    profile.add_argument("name", nargs="?", help="smoke, cpu or full (default: automatic)")
    profile.set_defaults(func=_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
