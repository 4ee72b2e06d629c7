"""Agent ops for the IOMMU isolation and restoration suites.

Kernel log: `kmsg_mark` / `kmsg_since(mark)` read /dev/kmsg records (sequence
numbered, so a delta is exact) and parse IOMMU fault lines. Isolation steps act on
an open PMD port (see pmd_ops): a canary buffer, raw map/unmap that report the errno
instead of raising, pointing RX / TX at any IOVA, reset + re-init, raw BAR0 access.
Evidence: lspci -vv, ethtool -i, /proc/sys/kernel/tainted, an open() as an
unprivileged user, the IOMMU group's members. Kernel-path traffic: a peer moved into
its own network namespace (netns.py), ping and UDP both ways, always torn down.

The Probes service keeps the canaries: each is a view into its port's DMA memory,
dropped when the port closes (a read after that would touch unmapped memory and
kill the agent), so iso_canary_check on a closed port is a StateError.

Every external command is argv (never a shell), bounded by a timeout.
"""
from __future__ import annotations

import errno as errno_mod
import logging
import os
import subprocess
import sys
import time
from typing import Dict, Tuple

from nictest.agent.jobs import Jobs
from nictest.agent.net_ops import ip, link_flags
from nictest.agent.netns import namespaces
from nictest.agent import commands
from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.agent.service import Service
from nictest.errors import StateError
from nictest.isolation.verdict import parse_faults
from nictest.pci.groups import group_members

log = logging.getLogger("nictest.agent.isolation_ops")

CANARY = b"\xa5NICTEST-CANARY\x5a"   # any 14-byte run of it in a frame means the buffer leaked
CAPTURE_MARGIN_S = 10.0


class Probes(Service):
    """Canary buffers by (port, bus address), each forgotten when its port closes."""

    close_order = 20

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self.canaries: Dict[Tuple[int, int], dict] = {}
        ports(agent).on_release(self.forget_port)

    def forget_port(self, port_id: int) -> None:
        for key in [k for k in self.canaries if k[0] == port_id]:
            del self.canaries[key]

    def canary(self, port_id: int, bus: int) -> dict:
        ports(self.agent).get(port_id)  # StateError when the port is closed: its memory is gone
        found = self.canaries.get((port_id, bus))
        if found is None:
            raise StateError(f"no canary at bus {bus:#x} on port {port_id}: iso_canary first")
        return found

    def close(self) -> None:
        self.canaries.clear()


def _run(argv: list, timeout: float = 15) -> dict:
    return commands.run(argv, timeout)


# --- kernel log ---------------------------------------------------------------

def _kmsg_records():
    """(seq, text) of every record in the kernel ring buffer now."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    out = []
    try:
        while True:
            try:
                raw = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # overwritten while reading: keep going from the next one
                continue
            head, _, text = raw.decode(errors="replace").partition(";")
            fields = head.split(",")
            out.append((int(fields[1]), text.split("\n", 1)[0]))
    finally:
        os.close(fd)
    return out


@op("kmsg_mark")
def kmsg_mark(agent) -> dict:
    records = _kmsg_records()
    return {"seq": records[-1][0] if records else -1}


@op("kmsg_since", seq=int)
def kmsg_since(agent, seq) -> dict:
    """Kernel log records after `seq` (from kmsg_mark), with the IOMMU faults among them."""
    lines = [text for s, text in _kmsg_records() if s > seq]
    faults = [{"device": f.device, "address": f.address, "kind": f.kind, "reason": f.reason, "line": f.line}
              for f in parse_faults(lines)]
    errors = [ln for ln in lines if any(k in ln for k in ("DMAR", "AMD-Vi", "IOMMU", "AER", "iommu"))]
    return {"lines": lines, "faults": faults, "iommu_aer_lines": errors}


@op("tainted")
def tainted(agent) -> dict:
    with open("/proc/sys/kernel/tainted") as f:
        return {"tainted": int(f.read().strip())}


# --- isolation steps on an open PMD port --------------------------------------

def _pagemap_phys(virt: int) -> int:
    from nictest.agent.pmd_ops import _pagemap_phys as phys

    return phys(virt)


@op("iso_canary", port=int, size=int)
def iso_canary(agent, port, size=1 << 20) -> dict:
    """Spare DMA memory filled with the canary pattern (mapped for the device at `bus`)."""
    p = ports(agent).get(port)
    buf = p.dma_alloc(size)
    data = (CANARY * (buf["size"] // len(CANARY) + 1))[: buf["size"]]
    buf["buffer"][:] = data
    virt = int(p.ffi.cast("uintptr_t", p.ffi.from_buffer(buf["buffer"])))
    agent.service(Probes).canaries[(port, buf["bus"])] = {"buffer": buf["buffer"], "expect": data}
    return {"bus": buf["bus"], "offset": buf["offset"], "size": buf["size"], "virt": virt,
            "phys": _pagemap_phys(virt), "dma_bus_base": p.info()["dma_bus_base"], "dma_size": p.info()["dma_size"]}


@op("iso_canary_check", port=int, bus=int)
def iso_canary_check(agent, port, bus) -> dict:
    c = agent.service(Probes).canary(port, bus)
    now = bytes(c["buffer"])
    changed = sum(1 for a, b in zip(now, c["expect"]) if a != b)
    first = next((i for i, (a, b) in enumerate(zip(now, c["expect"])) if a != b), None)
    return {"changed_bytes": changed, "first_changed_offset": first, "size": len(now)}


@op("iso_dma", port=int, action=str, iova=int, offset=int, size=int)
def iso_dma(agent, port, action, iova, offset=0, size=4096) -> dict:
    """pmd_dma_map / pmd_dma_unmap; the errno is the answer (0: success), not an exception."""
    from nictest.errors import PmdError

    p = ports(agent).get(port)
    try:
        if action == "map":
            p.dma_map(iova, offset, size)
        elif action == "unmap":
            p.dma_unmap(iova, size)
        else:
            raise ValueError(f"action {action!r}: map or unmap")
    except PmdError as exc:
        err = exc.errno
        return {"errno": err, "name": errno_mod.errorcode.get(err, "?"), "message": str(exc)}
    return {"errno": 0, "name": "OK", "message": ""}


@op("iso_rx_point", port=int, bus=int)
def iso_rx_point(agent, port, bus) -> dict:
    ports(agent).get(port).rx_point_next(bus)
    return {"bus": bus}


@op("iso_tx_from", port=int, bus=int, size=int)
def iso_tx_from(agent, port, bus, size=128) -> dict:
    p = ports(agent).get(port)
    started = time.monotonic()
    p.tx_from(bus, size)
    return {"bus": bus, "size": size, "seconds": round(time.monotonic() - started, 4)}


@op("iso_reset", port=int, kind=str)
def iso_reset(agent, port, kind="vfio") -> dict:
    from nictest.agent.reset_ops import timed_reset

    p = ports(agent).get(port)
    return {**timed_reset(p, kind), "registers": p.registers()}


@op("iso_reg", port=int, offset=int, value=int)
def iso_reg(agent, port, offset, value=-1) -> dict:
    """Read a BAR0 register; with value >= 0 write it first."""
    p = ports(agent).get(port)
    if value >= 0:
        p.reg_write(offset, value)
    return {"offset": offset, "value": p.reg_read(offset)}


# --- raw capture on a kernel netdev (promiscuous) ------------------------------

@op("iso_capture_start", ifname=str, seconds=float)
def iso_capture_start(agent, ifname, seconds=3.0) -> dict:
    """Capture every frame on `ifname` (AF_PACKET, promiscuous) for `seconds` in a thread."""
    import socket
    import struct

    ETH_P_ALL, SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 0x0003, 263, 1, 1
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    ifindex = socket.if_nametoindex(ifname)
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b""))
    s.settimeout(0.1)

    def run() -> list:
        frames = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                try:
                    data, addr = s.recvfrom(65535)
                except socket.timeout:
                    continue
                if addr[2] != socket.PACKET_OUTGOING:
                    frames.append(data)
        finally:
            s.close()
        return frames

    try:
        agent.service(Jobs).start(("capture", ifname), run, limit_s=seconds + CAPTURE_MARGIN_S,
                                  busy=f"{ifname} is already capturing: iso_capture_wait first")
    except StateError:
        s.close()
        raise
    return {"started": True}


@op("iso_capture_wait", ifname=str)
def iso_capture_wait(agent, ifname) -> dict:
    frames = agent.service(Jobs).collect(("capture", ifname), 60,
                                         missing=f"no capture on {ifname}: iso_capture_start first",
                                         still_running=f"the capture on {ifname} is still running after 60 s")
    leak = CANARY[1:-1]
    return {"count": len(frames),
            "frames": [{"len": len(f), "hex": f[:160].hex(), "all_zero": not any(f),
                        "carries_canary": leak in f} for f in frames[:50]],
            "leaked": sum(1 for f in frames if leak in f)}


# --- group and access control -------------------------------------------------

@op("iommu_group_members", group=int)
def iommu_group_members(agent, group) -> list:
    return [member.to_dict() for member in group_members(os.environ.get("NICTEST_SYSFS_ROOT", "/"), group)]


@op("file_stat", path=str)
def file_stat(agent, path) -> dict:
    st = os.stat(path)
    return {"path": path, "uid": st.st_uid, "gid": st.st_gid, "mode": st.st_mode & 0o7777}


_OPEN_AS = ("import os,sys\n"
            "try:\n os.close(os.open(sys.argv[1], os.O_RDWR)); print(0)\n"
            "except OSError as e:\n print(e.errno)\n")


@op("open_as_user", path=str, user=str)
def open_as_user(agent, path, user="nobody") -> dict:
    """open(path, O_RDWR) in a child running as `user` (its uid and primary gid, no
    supplementary groups): {errno} (0: it could open)."""
    import pwd

    pw = pwd.getpwnam(user)
    p = subprocess.run([sys.executable, "-c", _OPEN_AS, path], user=pw.pw_uid, group=pw.pw_gid,
                       extra_groups=[], capture_output=True, text=True, timeout=15)
    if p.returncode != 0:
        raise StateError(f"open as {user} did not run: rc {p.returncode}: {p.stderr.strip()}")
    err = int(p.stdout.strip())
    return {"user": user, "uid": pw.pw_uid, "path": path, "errno": err,
            "name": errno_mod.errorcode.get(err, "OK") if err else "OK"}


# --- evidence -----------------------------------------------------------------

@op("lspci_vv", address=str)
def lspci_vv(agent, address) -> dict:
    """`lspci -vv -nn -s BDF` (argv); falls back to the raw config space when lspci is missing."""
    res = _run(["lspci", "-vv", "-nn", "-s", address])
    if res["rc"] == 127:
        with open(f"/sys/bus/pci/devices/{address}/config", "rb") as f:
            res["stdout"] = "lspci missing; config space:\n" + f.read(256).hex(" ", 4)
    return res


@op("ethtool_i", ifname=str)
def ethtool_i(agent, ifname) -> dict:
    res = _run(["ethtool", "-i", ifname])
    info = {}
    for line in res["stdout"].splitlines():
        k, _, v = line.partition(":")
        if v:
            info[k.strip()] = v.strip()
    res["info"] = info
    return res


# --- kernel-path traffic through a network namespace ----------------------------

NETNS = "nictest-peer"
_UDP_PEER = ("import socket,sys\n"
             "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(5)\n"
             "s.bind((sys.argv[1],0)); s.sendto(b'peer->nic',(sys.argv[2],int(sys.argv[3])))\n"
             "d,a=s.recvfrom(100); print(d.decode())\n")


@op("kernel_path_check", local_if=str, peer_if=str, subnet=str, ping_size=int)
def kernel_path_check(agent, local_if, peer_if, subnet="10.199.0", ping_size=0) -> dict:
    """Peer netdev into its own netns with .2/24, local netdev keeps the root netns with .1/24;
    ping both ways and a UDP exchange both ways; then the peer goes back to the root netns with
    its admin state, and the local address is removed (also on failure). ping_size > 0: the
    pings carry that many payload bytes, not fragmented (-M do), to check an MTU."""
    import socket

    sized = ["-s", str(ping_size), "-M", "do"] if ping_size > 0 else []

    local_ip, peer_ip = f"{subnet}.1", f"{subnet}.2"
    local_was_up = "UP" in link_flags(local_if)
    out: dict = {"local_if": local_if, "peer_if": peer_if, "netns": NETNS}
    peer_was_up = namespaces(agent).move_in(peer_if, NETNS)
    try:
        ip("-n", NETNS, "addr", "add", f"{peer_ip}/24", "dev", peer_if)
        ip("-n", NETNS, "link", "set", "dev", peer_if, "up")
        ip("addr", "add", f"{local_ip}/24", "dev", local_if)
        ip("link", "set", "dev", local_if, "up")
        started = time.monotonic()
        ok = False
        while time.monotonic() - started < 20 and not ok:  # carrier + ARP on both sides
            ok = _run(["ping", "-c", "1", "-W", "1", "-I", local_if, peer_ip])["rc"] == 0
        out["first_ping_seconds"] = round(time.monotonic() - started, 2)
        out["ping_nic_to_peer"] = _run(["ping", "-c", "3", "-i", "0.2", "-W", "2", *sized, "-I", local_if,
                                        peer_ip])
        out["ping_peer_to_nic"] = _run(["ip", "netns", "exec", NETNS, "ping", "-c", "3", "-i", "0.2", "-W", "2",
                                        *sized, local_ip])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        s.bind((local_ip, 0))
        try:
            child = subprocess.Popen(["ip", "netns", "exec", NETNS, sys.executable, "-c", _UDP_PEER, peer_ip,
                                      local_ip, str(s.getsockname()[1])], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            try:
                data, addr = s.recvfrom(100)
                out["udp_peer_to_nic"] = data.decode()
                s.sendto(b"nic->peer", addr)
                stdout, stderr = child.communicate(timeout=10)
                out["udp_nic_to_peer"] = stdout.strip()
                out["udp_peer_stderr"] = stderr.strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                child.kill()
                child.communicate()
                out["udp_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            s.close()
    finally:
        ip("addr", "del", f"{local_ip}/24", "dev", local_if, check=False)
        if not local_was_up:
            ip("link", "set", "dev", local_if, "down", check=False)
        out["peer_back"] = namespaces(agent).move_out(peer_if, NETNS, up=peer_was_up)
    out["ping_nic_to_peer_ok"] = out["ping_nic_to_peer"]["rc"] == 0
    out["ping_peer_to_nic_ok"] = out["ping_peer_to_nic"]["rc"] == 0
    out["udp_ok"] = out.get("udp_peer_to_nic") == "peer->nic" and out.get("udp_nic_to_peer") == "nic->peer"
    return out
