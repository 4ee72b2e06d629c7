"""The Namespaces service: a netdev moved into a network namespace of its own, and back.

The kernel path's far end lives in its own netns (bench, kernel_path_check) so
frames between two local NICs cross the cable instead of the local stack. Moving a
netdev in is recorded here, so that if the agent is stopped before the op that moves
it back, shutdown brings it back to the root namespace with its admin state and
deletes the namespace. A thread that must open a socket inside one uses
nictest.pmd.measure.in_netns (csrc/netns.c: setns on that thread only).
"""
from __future__ import annotations

import logging
from typing import Dict, Tuple

from nictest.agent.net_ops import ip, ip_json, link_flags
from nictest.agent.service import Service
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.netns")


class Namespaces(Service):
    close_order = 40

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._moved: Dict[Tuple[str, str], bool] = {}  # (ifname, netns) -> was it admin-up before

    def move_in(self, ifname: str, netns: str) -> bool:
        """A fresh `netns` (a leftover of a killed run is deleted first) holding `ifname`;
        returns whether `ifname` was admin-up before."""
        was_up = "UP" in link_flags(ifname)
        ip("netns", "del", netns, check=False)
        ip("netns", "add", netns)
        try:
            ip("link", "set", "dev", ifname, "netns", netns)
        except StateError:
            ip("netns", "del", netns, check=False)
            raise
        self._moved[(ifname, netns)] = was_up
        return was_up

    def move_out(self, ifname: str, netns: str, up: bool) -> bool:
        """`ifname` back to the root namespace (addresses flushed, admin state `up`), `netns`
        deleted; True when it is back. Tolerates a half-done move_in."""
        ip("-n", netns, "addr", "flush", "dev", ifname, check=False)
        ip("-n", netns, "link", "set", "dev", ifname, "down", check=False)
        ip("-n", netns, "link", "set", "dev", ifname, "netns", "1", check=False)
        ip("netns", "del", netns, check=False)
        back = ifname in {link["ifname"] for link in ip_json("link", "show")}
        if back:
            self._moved.pop((ifname, netns), None)
            if up:
                ip("link", "set", "dev", ifname, "up", check=False)
        return back

    def holds(self) -> bool:
        return bool(self._moved)

    def close(self) -> None:
        for (ifname, netns), was_up in list(self._moved.items()):
            log.warning("agent stopping: moving %s back from netns %s", ifname, netns)
            try:
                if not self.move_out(ifname, netns, was_up):
                    log.error("%s did not come back from netns %s", ifname, netns)
            except Exception:  # noqa: BLE001 - the others still come back
                log.exception("moving %s back from netns %s failed", ifname, netns)
        self._moved.clear()


def namespaces(agent) -> Namespaces:
    return agent.service(Namespaces)
