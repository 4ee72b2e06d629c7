"""`nictest` command line: status, lab, (bind, restore, pmd ... as they land).

Every NictestError ends in one clear line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import NictestError
from . import bench_cmd, bind_cmd, disconnect_cmd, lab_cmd, pmd_cmd, profile_cmd, report_cmd, status_cmd, vf_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nictest", description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", metavar="PATH", help="hosts.toml to use (default: the bundled one)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (status_cmd, bind_cmd, disconnect_cmd, vf_cmd, pmd_cmd, profile_cmd, lab_cmd, report_cmd,
                   bench_cmd):
        module.add_parser(sub)
    _accept_inventory_anywhere(parser)
    return parser


def _accept_inventory_anywhere(parser: argparse.ArgumentParser) -> None:
    """`nictest status --host X --inventory F` as well as `nictest --inventory F status ...`:
    every subcommand takes --inventory too; SUPPRESS keeps the top-level value when the
    subcommand is not given one."""
    for action in parser._actions:  # argparse has no public walk over subparsers
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument("--inventory", metavar="PATH", default=argparse.SUPPRESS,
                                   help="hosts.toml to use (default: the bundled one)")
                _accept_inventory_anywhere(child)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except NictestError as err:
        print(f"nictest: {type(err).__name__}: {one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nictest status | head`: the reader left, nothing to report
        return 0
    except KeyboardInterrupt:
        print("nictest: interrupted", file=sys.stderr)
        return 130


def one_line(err: Exception) -> str:
    return " ".join(str(err).split())
