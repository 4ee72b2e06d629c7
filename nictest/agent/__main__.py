"""Entry point: `python3 -m nictest.agent [--ssh-connection "$SSH_CONNECTION"]`, or
`python3 -m nictest.agent --resident SOCKET` to make sure the resident agent serves
SOCKET (resident.py) and return.

The real stdout file descriptor carries only protocol lines: it is duplicated for
the protocol and fd 1 is pointed at stderr, so a stray print (ours, a library's,
or C code's printf) can never corrupt the channel.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from nictest.agent.ops import load_op_modules
from nictest.agent.server import Agent


def session_ip(ssh_connection: Optional[str]) -> Optional[str]:
    """The controller's address in "<client_ip> <client_port> <server_ip> <server_port>".

    Discovery asks the kernel for its route to it: the interface that route leaves
    by carries the session and must never be offered for binding.
    """
    fields = (ssh_connection or "").split()
    return fields[0] if len(fields) == 4 else None


def session_local(ssh_connection: Optional[str]) -> Optional[str]:
    """This host's address of the session (the server side): the interface holding it
    carries the session too, whatever the routes say."""
    fields = (ssh_connection or "").split()
    return fields[2] if len(fields) == 4 else None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m nictest.agent")
    parser.add_argument("--ssh-connection", default=os.environ.get("SSH_CONNECTION"),
                        help='"<client_ip> <client_port> <server_ip> <server_port>" of the controller session')
    parser.add_argument("--log-level", default=os.environ.get("NICTEST_AGENT_LOG", "INFO"))
    parser.add_argument("--resident", metavar="SOCKET", help="start the resident agent on this Unix socket")
    options = parser.parse_args(argv)

    if options.resident:
        from nictest.agent import resident

        logging.basicConfig(stream=sys.stderr, level=options.log_level.upper(),
                            format="nictest-agent %(levelname)s %(name)s: %(message)s")
        # Loaded before the fork: the daemon never imports on a client's time.
        return resident.start(options.resident, load_op_modules(), out=sys.stdout)

    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=options.log_level.upper(),
                        format="nictest-agent %(levelname)s %(name)s: %(message)s")

    agent = Agent(session_ip=session_ip(options.ssh_connection), session_local=session_local(options.ssh_connection))
    agent.install_signal_handlers()
    agent.load_op_modules()
    return agent.serve(sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    sys.exit(main())
