"""Is a NIC in use by the host? Routes, the SSH session, and stacked devices say so.

A NIC is "active" when taking it from the kernel would cut traffic the host
relies on; the binding layer refuses such NICs. Each reason is a sentence a
tester can act on, e.g. "enp0s3 carries IPv4 route 192.168.1.0/24".
"""
from __future__ import annotations

from typing import Dict, List, Optional

from nictest.pci import routes as routing
from nictest.pci.netdev import upper_names
from nictest.pci.sysfs import PathLike, link_name, under

# Stacking (VLAN on bond on NIC) is shallow in practice; the bound only guards loops.
_MAX_STACK_DEPTH = 8


class Activity:
    """Reasons each interface is in use, computed from one read of the route tables."""

    def __init__(self, root: PathLike = "/", session_ip: Optional[str] = None) -> None:
        self.root = root
        self.session_ip = session_ip.strip() if session_ip else None
        tables = routing.all_routes(root)
        self._carried = routing.carried_routes(tables)
        session_route = routing.lookup(root, self.session_ip, tables) if self.session_ip else None
        self.session_iface = session_route.iface if session_route else None
        self._uppers: Dict[str, List[str]] = {}

    def reasons(self, iface: str) -> List[str]:
        """Why `iface` is in use, most important first; [] when it is free."""
        return self._reasons(iface, depth=0)

    def carries_session(self, iface: str) -> bool:
        """True if the SSH session enters through `iface` or a device stacked on it."""
        if self.session_iface is None:
            return False
        return self.session_iface == iface or self.session_iface in self._stack(iface)

    def _reasons(self, iface: str, depth: int) -> List[str]:
        reasons = []
        if iface == self.session_iface:
            reasons.append(f"{iface} carries the SSH session (route to {self.session_ip})")
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
