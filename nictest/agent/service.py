"""The agent's services: one object per concern, owning its state and its close().

A service is created on first use, one per agent (`agent.service(Ports)`), so a new
Agent starts clean and tests need no reset helpers. At shutdown (EOF, a signal, an
expired lease) the agent closes its services in `close_order`, lowest first, with
the plain `on_shutdown` hooks at HOOKS_ORDER. The order is the contract:

    10 Jobs        background threads finish (a C loop must not outlive its port)
    20 Probes      isolation probes drop their views into port memory
    30 Ports       PMD ports and devices closed: DMA unmapped, /dev/vfio fds released
    40 Namespaces  netdevs moved into a netns come back to the root namespace
    50 hooks       agent.on_shutdown(...) callbacks, newest first
    90 Binding     the dead man's switch: every held NIC back on its kernel driver

A service that `holds()` something arms the lease (server.py).
"""
from __future__ import annotations

HOOKS_ORDER = 50


class Service:
    """Base: subclasses set close_order and override close() / holds()."""

    close_order = HOOKS_ORDER

    def __init__(self, agent) -> None:
        self.agent = agent

    def holds(self) -> bool:
        """True while silence from the controller should end the session (see the lease)."""
        return False

    def close(self) -> None:
        """Give back everything this service holds; called once at shutdown, must not raise for one item."""
