"""`nictest disconnect --host H`: end the kept SSH connection to H (as `ssh -O exit` does).

The first `nictest status|bind|unbind|restore|hold` call for a host leaves a keeper holding
its SSH connection (hosts/mux.py), so later calls pay no handshake; it leaves by itself
after NICTEST_CONTROL_PERSIST seconds without a client. A call still running through it
(a `hold`) loses its connection: the agent restores what that call held.
"""
from __future__ import annotations

from ..hosts import mux
from .common import add_host_argument, host_spec


def add_parser(sub) -> None:
    parser = sub.add_parser("disconnect", help="end the kept SSH connection to a host")
    add_host_argument(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    if mux.stop_keeper(host_spec(args)):
        print(f"{args.host}: kept connection closed")
    else:
        print(f"{args.host}: no kept connection")
    return 0
