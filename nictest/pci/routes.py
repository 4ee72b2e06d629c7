"""Kernel routing tables from /proc/net/route and /proc/net/ipv6_route.

Used to tell which interfaces carry traffic (and so must not be taken from
the kernel) and which one an SSH session arrives on (`lookup`).
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

from nictest.pci.sysfs import PathLike, read_whole, under

RTF_GATEWAY = 0x0002
RTF_REJECT = 0x0200

IpNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
IpAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# Every up interface gets these IPv6 routes on its own; they say nothing
# about the interface being in use.
_AUTOMATIC_V6 = (ipaddress.IPv6Network("fe80::/10"), ipaddress.IPv6Network("ff00::/8"))


@dataclass(frozen=True)
class Route:
    iface: str
    network: IpNetwork
    gateway: Optional[IpAddress]
    metric: int
    flags: int

    @property
    def family(self) -> int:
        return self.network.version

    @property
    def rejects(self) -> bool:
        return bool(self.flags & RTF_REJECT)

    def describe(self) -> str:
        """e.g. "IPv4 route 0.0.0.0/0 via 10.0.2.2"."""
        text = f"IPv{self.family} route {self.network}"
        return f"{text} via {self.gateway}" if self.gateway is not None else text


def ipv4_routes(root: PathLike = "/") -> List[Route]:
    """Routes of /proc/net/route (main table); addresses are little-endian hex."""
    text = read_whole(under(root, "proc/net/route")) or ""
    routes = []
    for line in text.splitlines()[1:]:  # first line is the header
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest, gateway, flags, metric, mask = (
                _le_ipv4(fields[1]), _le_ipv4(fields[2]), int(fields[3], 16),
                int(fields[6]), _le_ipv4(fields[7]),
            )
        except ValueError:
            continue
        prefix = bin(int(mask)).count("1")
        routes.append(Route(
            iface=fields[0],
            network=ipaddress.IPv4Network(f"{dest}/{prefix}", strict=False),
            gateway=gateway if flags & RTF_GATEWAY else None,
            metric=metric,
            flags=flags,
        ))
    return routes


def ipv6_routes(root: PathLike = "/") -> List[Route]:
    """Routes of /proc/net/ipv6_route (all tables): dest plen src splen nexthop metric refcnt use flags iface."""
    text = read_whole(under(root, "proc/net/ipv6_route")) or ""
    routes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            dest = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            prefix = int(fields[1], 16)
            nexthop = ipaddress.IPv6Address(bytes.fromhex(fields[4]))
            metric, flags = int(fields[5], 16), int(fields[8], 16)
        except ValueError:
            continue
        routes.append(Route(
            iface=fields[9],
            network=ipaddress.IPv6Network(f"{dest}/{prefix}", strict=False),
            gateway=nexthop if not nexthop.is_unspecified else None,
            metric=metric,
            flags=flags,
        ))
    return routes


def all_routes(root: PathLike = "/") -> List[Route]:
    return ipv4_routes(root) + ipv6_routes(root)


def carried_routes(routes: List[Route]) -> Dict[str, List[Route]]:
    """Routes that show an interface is in use, by interface, broadest prefix first.

    Leaves out loopback, reject routes, and the IPv6 link-local/multicast
    routes the kernel adds to every up interface.
    """
    by_iface: Dict[str, List[Route]] = {}
    for route in routes:
        if route.iface == "lo" or route.rejects:
            continue
        if route.family == 6 and any(route.network.subnet_of(auto) for auto in _AUTOMATIC_V6):
            continue
        by_iface.setdefault(route.iface, []).append(route)
    for routes_of_iface in by_iface.values():
        routes_of_iface.sort(key=lambda r: (r.family, r.network.prefixlen))
    return by_iface


def lookup(root: PathLike, ip: Union[str, IpAddress], routes: Optional[List[Route]] = None) -> Optional[Route]:
    """The route the kernel would use to reach `ip`: longest prefix, then lowest metric.

    Accepts "10.0.2.2", "2001:db8::1", "::ffff:10.0.2.2" (as sshd may report
    it) and "fe80::1%eth0" (scope pins the interface). Returns None for
    loopback addresses (such a session never crosses a NIC) and when no
    route matches. Raises ValueError for text that is not an IP address.
    """
    address = parse_ip(ip)
    scope = getattr(address, "scope_id", None)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None
    if routes is None:
        routes = all_routes(root)
    best: Optional[Route] = None
    for route in routes:
        if route.family != address.version or route.rejects:
            continue
        if scope and route.iface != scope:
            continue
        if _bare(address) not in route.network:
            continue
        if best is None or (route.network.prefixlen, -route.metric) > (best.network.prefixlen, -best.metric):
            best = route
    return best


def parse_ip(ip: Union[str, IpAddress]) -> IpAddress:
    if not isinstance(ip, str):
        return ip
    try:
        return ipaddress.ip_address(ip.strip())
    except ValueError:
        raise ValueError(
            f"session IP {ip!r} is not an IPv4/IPv6 address; pass the first field of $SSH_CONNECTION"
        ) from None


def _bare(address: IpAddress) -> IpAddress:
    """The address without its %scope (membership tests ignore scope anyway on 3.9+)."""
    if address.version == 6 and getattr(address, "scope_id", None):
        return ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return address


def _le_ipv4(hex_text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(struct.pack("<I", int(hex_text, 16)))
