"""Which SSH connection a Unix-socket client came through, as the host sees it.

A per-call agent reads $SSH_CONNECTION. A client of the resident agent arrives through
sshd relaying a direct-streamlocal channel, so the agent asks the kernel instead: the
peer credentials of the Unix socket name the sshd process that connected it, and that
process holds the TCP connection of the SSH session. Its two ends, in the host's own
view (NAT, jump hosts), are what $SSH_CONNECTION would have said; discovery needs them
to keep the session's interface out of every bind.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys
from typing import List, NamedTuple, Optional, Set, Tuple

TCP_ESTABLISHED, TCP_LISTEN = "01", "0A"


class Endpoint(NamedTuple):
    ip: str
    port: int


def peer_pid(conn: socket.socket) -> int:
    """The pid of the process that connected `conn` (SO_PEERCRED)."""
    pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid


def ssh_connection_of(conn: socket.socket, proc: str = "/proc") -> Optional[str]:
    """"<client_ip> <client_port> <server_ip> <server_port>" of the SSH session whose sshd
    connected `conn`; None when it cannot be told for certain (then the client is refused)."""
    try:
        return ssh_connection_of_pid(peer_pid(conn), proc)
    except OSError:
        return None


def ssh_connection_of_pid(pid: int, proc: str = "/proc") -> Optional[str]:
    inodes = _socket_inodes(f"{proc}/{pid}/fd")
    established: List[Tuple[Endpoint, Endpoint]] = []
    listening: Set[int] = set()
    for table in ("tcp", "tcp6"):
        for local, remote, state, inode in _tcp_table(f"{proc}/{pid}/net/{table}"):
            if state == TCP_LISTEN:
                listening.add(local.port)
            elif state == TCP_ESTABLISHED and inode in inodes:
                established.append((local, remote))
    # The session's socket is the one whose local port is a port sshd listens on; a forward
    # the session opened itself (direct-tcpip) has an ephemeral local port.
    sessions = [(local, remote) for local, remote in established if local.port in listening]
    if len(sessions) != 1:
        return None
    local, remote = sessions[0]
    return f"{remote.ip} {remote.port} {local.ip} {local.port}"


def _socket_inodes(fd_dir: str) -> Set[str]:
    inodes = set()
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _tcp_table(path: str):
    """(local, remote, state, inode) per line of /proc/<pid>/net/tcp{,6}."""
    try:
        with open(path) as handle:
            lines = handle.readlines()[1:]
    except FileNotFoundError:  # no IPv6 in this kernel
        return
    for line in lines:
        fields = line.split()
        if len(fields) < 10:
            continue
        yield _endpoint(fields[1]), _endpoint(fields[2]), fields[3], fields[9]


def _endpoint(text: str) -> Endpoint:
    """"0F02000A:0016" (IPv4) or 32 hex digits (IPv6) as the kernel prints them: 32-bit
    words in host byte order. A v4-mapped IPv6 address is given as IPv4, as sshd does."""
    address, port = text.split(":")
    raw = bytes.fromhex(address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return Endpoint(str(ip), int(port, 16))
