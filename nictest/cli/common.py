"""What the subcommands share: resolving --host and connecting to it."""
from __future__ import annotations

from .. import hosts, inventory


def add_host_argument(parser) -> None:
    parser.add_argument("--host", required=True,
                        help="inventory name (lab1, lab2, local) or ssh://[user@]addr[:port]")


def host_spec(args):
    """The HostSpec that --host names (an inventory name, or an ssh:// address)."""
    return inventory.parse_host_arg(args.host, inventory.load(args.inventory))


def connect(args, resident: bool = False):
    """resident: the call is served by the host's long-lived agent (status and the binding
    commands: short calls that must not pay a Python start each), through the controller's
    kept SSH connection to it (hosts/mux.py: no handshake after the first call)."""
    return hosts.connect(host_spec(args), resident=resident, kept=resident)
