"""rtnetlink from the standard library: send one request, collect its answer.

Both discovery (which interface carries the SSH session: RTM_GETROUTE, RTM_GETADDR)
and the binding layer (a netdev's addresses) ask the kernel through here, so the
socket, header and attribute code lives once, in the lower layer. Read-only
requests only; nothing here changes the host.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
from typing import Dict, Iterator, List, Optional, Tuple

NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300      # linux/netlink.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLMSG = struct.Struct("=IHHII")             # struct nlmsghdr: len, type, flags, seq, pid
NLMSG_ERRNO = struct.Struct("=i")           # struct nlmsgerr starts with the negative errno
RTATTR = struct.Struct("=HH")               # struct rtattr: len, type

RTM_NEWADDR, RTM_GETADDR = 20, 22           # linux/rtnetlink.h
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
IFADDRMSG = struct.Struct("=BBBBI")         # struct ifaddrmsg: family, prefixlen, flags, scope, index
IFA_ADDRESS, IFA_LOCAL = 1, 2               # linux/if_addr.h
RTMSG = struct.Struct("=BBBBBBBBI")         # struct rtmsg: family, dst_len, src_len, tos, table,
#                                             protocol, scope, type, flags
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_TABLE = 1, 2, 4, 5, 7, 15
RTM_F_LOOKUP_TABLE = 0x1000                 # ask for the table the lookup ended in (Linux >= 4.4)
RTN_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 5: "multicast", 6: "blackhole",
             7: "unreachable", 8: "prohibit", 9: "throw"}
TIMEOUT = 5.0

Message = Tuple[int, bytes]  # (nlmsg type, body after the header)


class NetlinkError(OSError):
    """The kernel answered a request with an error (errno set), or did not answer."""


def attrs(data: bytes) -> Dict[int, bytes]:
    """Attributes of a message body (after its fixed struct), by type; the last one wins."""
    found, offset = {}, 0
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + RTATTR.size: offset + length]  # drop NLA_F_NESTED/BYTEORDER
        offset += (length + 3) & ~3
    return found


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    length = RTATTR.size + len(payload)
    return RTATTR.pack(length, kind) + payload + b"\0" * (((length + 3) & ~3) - length)


def request(kind: int, body: bytes, dump: bool = False) -> List[Message]:
    """Send one request and return the messages that answer it.

    A dump returns every message up to NLMSG_DONE; a plain request returns its one
    answer. An error reply raises NetlinkError with the kernel's errno.
    """
    flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
    seq = 1
    header = NLMSG.pack(NLMSG.size + len(body), kind, flags, seq, 0)
    found: List[Message] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(TIMEOUT)
        try:
            sock.sendall(header + body)
            while True:
                for msg_type, msg_seq, payload in _messages(sock.recv(1 << 16)):
                    if msg_seq != seq:
                        continue  # not ours (cannot happen on a private socket, but cheap to check)
                    if msg_type == NLMSG_DONE:
                        return found
                    if msg_type == NLMSG_ERROR:
                        code = -NLMSG_ERRNO.unpack_from(payload)[0]
                        if code == 0:  # an acknowledgement
                            return found
                        raise NetlinkError(code, f"rtnetlink request {kind} refused: {os.strerror(code)}")
                    found.append((msg_type, payload))
                    if not dump:
                        return found
        except socket.timeout:
            raise NetlinkError(f"rtnetlink did not answer request {kind} within {TIMEOUT:g}s") from None


def _messages(data: bytes) -> Iterator[Tuple[int, int, bytes]]:
    offset = 0
    while offset + NLMSG.size <= len(data):
        length, msg_type, _flags, seq, _pid = NLMSG.unpack_from(data, offset)
        if length < NLMSG.size:
            return
        yield msg_type, seq, data[offset + NLMSG.size: offset + length]
        offset += (length + 3) & ~3


# --- addresses ---------------------------------------------------------------

def address_dump(family: int = socket.AF_UNSPEC) -> List[Tuple[Tuple[int, int, int, int, int], Dict[int, bytes]]]:
    """Every address of the host: ((family, prefixlen, flags, scope, ifindex), attributes)."""
    answers = request(RTM_GETADDR, IFADDRMSG.pack(family, 0, 0, 0, 0), dump=True)
    return [(IFADDRMSG.unpack_from(body), attrs(body[IFADDRMSG.size:]))
            for kind, body in answers if kind == RTM_NEWADDR]


# --- routes ------------------------------------------------------------------

class KernelRoute:
    """What `ip route get DST [from SRC]` says: the kernel's own answer, rules and tables applied."""

    def __init__(self, iface: Optional[str], kind: str, table: Optional[int],
                 gateway: Optional[str], prefsrc: Optional[str]) -> None:
        self.iface, self.kind, self.table, self.gateway, self.prefsrc = iface, kind, table, gateway, prefsrc

    def __repr__(self) -> str:
        return (f"KernelRoute(iface={self.iface!r}, kind={self.kind!r}, table={self.table!r}, "
                f"gateway={self.gateway!r}, prefsrc={self.prefsrc!r})")


def route_get(destination: str, source: Optional[str] = None) -> KernelRoute:
    """RTM_GETROUTE for `destination` as if sent from local address `source`.

    With `source` the kernel applies `ip rule from ...` rules too. Raises
    NetlinkError (errno EINVAL when `source` is not an address of this host,
    ENETUNREACH when nothing routes there), ValueError for text that is not an IP.
    """
    dst = ipaddress.ip_address(destination)
    body = attr(RTA_DST, dst.packed)
    src_len = 0
    if source is not None:
        src = ipaddress.ip_address(source)
        if src.version != dst.version:
            raise ValueError(f"source {source} and destination {destination} are of different IP versions")
        body += attr(RTA_SRC, src.packed)
        src_len = src.max_prefixlen
    family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
    header = RTMSG.pack(family, dst.max_prefixlen, src_len, 0, 0, 0, 0, 0, RTM_F_LOOKUP_TABLE)
    answers = [body_ for kind, body_ in request(RTM_GETROUTE, header + body) if kind == RTM_NEWROUTE]
    if not answers:
        raise NetlinkError(f"rtnetlink gave no route for {destination}")
    return parse_route(answers[0])


def parse_route(body: bytes) -> KernelRoute:
    """An RTM_NEWROUTE body (rtmsg + attributes) as a KernelRoute."""
    family, _dst_len, _src_len, _tos, table, _proto, _scope, rtype, _flags = RTMSG.unpack_from(body)
    found = attrs(body[RTMSG.size:])
    if RTA_TABLE in found:  # the u8 in rtmsg cannot hold table ids above 255
        table = struct.unpack("=I", found[RTA_TABLE][:4])[0]
    iface = None
    if RTA_OIF in found:
        index = struct.unpack("=I", found[RTA_OIF][:4])[0]
        try:
            iface = socket.if_indextoname(index)
        except OSError:
            iface = None  # the interface went away between answer and lookup
    return KernelRoute(iface=iface, kind=RTN_TYPES.get(rtype, str(rtype)), table=table or None,
                       gateway=_ip_attr(found, RTA_GATEWAY), prefsrc=_ip_attr(found, RTA_PREFSRC))


def _ip_attr(found: Dict[int, bytes], key: int) -> Optional[str]:
    return str(ipaddress.ip_address(found[key])) if key in found else None


def iface_holding(address: str) -> Optional[str]:
    """The interface that has `address` configured (IFA_LOCAL), None if no interface has it."""
    wanted = ipaddress.ip_address(address)
    for (_family, _prefixlen, _flags, _scope, index), found in address_dump():
        raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)  # IPv6 addresses carry only IFA_ADDRESS
        if raw and len(raw) in (4, 16) and ipaddress.ip_address(raw) == wanted:
            try:
                return socket.if_indextoname(index)
            except OSError:
                return None
    return None
