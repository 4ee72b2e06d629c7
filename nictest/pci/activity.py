"""Is a NIC in use by the host? Routes, the SSH session, and stacked devices say so.

A NIC is "active" when taking it from the kernel would cut traffic the host
relies on; the binding layer refuses such NICs. Each reason is a sentence a
tester can act on, e.g. "enp0s3 carries IPv4 route 192.168.1.0/24".

Which NIC carries the SSH session is asked of the kernel on a live host: its
route to the client from the session's local address (policy rules and every
table applied, as the packets really go) and the interface holding that local
address; either makes the NIC the session's. Only a recorded tree, which has no
kernel to ask, falls back to matching the main table read from /proc.
"""
from __future__ import annotations

import ipaddress
import logging
import os
from typing import Dict, List, Optional

from nictest.pci import netlink
from nictest.pci import routes as routing
from nictest.pci.netdev import upper_names
from nictest.pci.sysfs import PathLike, link_name, under

# Stacking (VLAN on bond on NIC) is shallow in practice; the bound only guards loops.
_MAX_STACK_DEPTH = 8
_TABLE_NAMES = {253: "default", 254: "main", 255: "local"}  # /etc/iproute2/rt_tables
_LIVE = object()  # default of `kernel`: the running kernel when root is "/", none for a recorded tree

log = logging.getLogger("nictest.pci")


class Activity:
    """Reasons each interface is in use, computed from one read of the route tables.

    session_ip / session_local: the client and server addresses of $SSH_CONNECTION.
    kernel: what answers route_get(dst, src) and iface_holding(address) (the
    `netlink` module on a live host; tests pass a stand-in; None: tables only).
    """

    def __init__(self, root: PathLike = "/", session_ip: Optional[str] = None,
                 session_local: Optional[str] = None, kernel=_LIVE) -> None:
        self.root = root
        self.session_ip = session_ip.strip() if session_ip else None
        self.session_local = session_local.strip() if session_local else None
        if kernel is _LIVE:
            kernel = netlink if os.path.realpath(root) == "/" else None
        tables = routing.all_routes(root)
        self._carried = routing.carried_routes(tables)
        # interface -> why it carries the session (clauses of one sentence)
        self.session_ifaces: Dict[str, List[str]] = {}
        if self.session_ip:
            self._find_session(tables, kernel)
        self._uppers: Dict[str, List[str]] = {}

    def _find_session(self, tables: List[routing.Route], kernel) -> None:
        client = _plain(self.session_ip)
        if client.is_loopback:
            return  # a session from this host itself never crosses a NIC
        scope = getattr(client, "scope_id", None)
        if scope:
            self._session(scope, f"the session's link-local address {self.session_ip} is scoped to it")
            return
        local = self._local_address()
        route = self._kernel_route(kernel, str(client), local) if kernel is not None else None
        if route is None:
            table_route = routing.lookup(self.root, client, tables)
            if table_route is not None:
                self._session(table_route.iface, f"route to {self.session_ip}")
        elif route.iface:
            table = f", table {_TABLE_NAMES.get(route.table, route.table)}" if route.table else ""
            self._session(route.iface, f"kernel route to {self.session_ip}{table}")
        if kernel is not None and local:
            try:
                holder = kernel.iface_holding(local)
            except (OSError, ValueError) as exc:
                log.warning("cannot ask the kernel which interface holds %s: %s", self.session_local, exc)
                holder = None
            if holder:
                self._session(holder, f"holds the session's address {self.session_local}")

    def _local_address(self) -> Optional[str]:
        if not self.session_local:
            return None
        try:
            return str(_plain(self.session_local))
        except ValueError as exc:
            log.warning("ignoring the session's local address: %s", exc)
            return None

    @staticmethod
    def _kernel_route(kernel, client: str, local: Optional[str]):
        """The kernel's route to the client, from the session's local address when it has one;
        None (the caller falls back to the main table) when the kernel cannot be asked."""
        for source in ([local, None] if local else [None]):
            try:
                return kernel.route_get(client, source)
            except (OSError, ValueError) as exc:
                # EINVAL/ENETUNREACH with a source that is not (or no longer) local: ask without it
                log.warning("kernel route lookup for %s from %s failed: %s", client, source or "any", exc)
        return None

    def _session(self, iface: str, why: str) -> None:
        self.session_ifaces.setdefault(iface, []).append(why)

    def reasons(self, iface: str) -> List[str]:
        """Why `iface` is in use, most important first; [] when it is free."""
        return self._reasons(iface, depth=0)

    def carries_session(self, iface: str) -> bool:
        """True if the SSH session enters through `iface` or a device stacked on it."""
        if not self.session_ifaces:
            return False
        return iface in self.session_ifaces or any(upper in self.session_ifaces for upper in self._stack(iface))

    def _reasons(self, iface: str, depth: int) -> List[str]:
        reasons = []
        if iface in self.session_ifaces:
            reasons.append(f"{iface} carries the SSH session ({'; '.join(self.session_ifaces[iface])})")
        reasons += [f"{iface} carries {route.describe()}" for route in self._carried.get(iface, [])]
        if depth >= _MAX_STACK_DEPTH:
            return reasons
        master = link_name(under(self.root, "sys/class/net", iface, "master"))
        if master:
            # a bond/bridge/team member is in use whatever its master carries
            reasons.append(f"{iface} is a member of {master}")
        for upper in self._uppers_of(iface):
            if upper == master:
                continue
            upper_reasons = self._reasons(upper, depth + 1)
            if upper_reasons:
                reasons.append(f"{iface} is the lower device of {upper}: {upper_reasons[0]}")
        return reasons

    def _uppers_of(self, iface: str) -> List[str]:
        if iface not in self._uppers:
            self._uppers[iface] = upper_names(self.root, iface)
        return self._uppers[iface]

    def _stack(self, iface: str) -> List[str]:
        seen: List[str] = []
        todo = list(self._uppers_of(iface))
        while todo and len(seen) < 64:
            upper = todo.pop()
            if upper not in seen:
                seen.append(upper)
                todo += self._uppers_of(upper)
        return seen


def _plain(ip: str):
    """An address as the kernel sees it: "::ffff:10.0.2.2" (as sshd may report it) -> 10.0.2.2."""
    address = routing.parse_ip(ip)
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
