"""Agent ops for the C poll-mode driver (nictest.pmd).

The NIC must already be bound (vfio-pci for backend "vfio", uio_pci_generic
for "uio") by the binding layer; these ops open it, read it and run the C
packet loops. Ports (a NIC a nictest driver drives: rings, DMA) and devices
(any NIC opened through VFIO/UIO without a driver) are numbered handles living
in this agent process; one address is open as one of them at a time.

Shutdown: one hook closes every open port (RX/TX off, DMA unmapped, fds
closed). Agent hooks run newest first, and the hook is re-registered on every
pmd_open, so it always runs before the binding layer's restore hook: a device
is never handed back to its kernel driver while this process still has it open.
"""
from __future__ import annotations

import logging
import threading
from typing import Dict, Optional

from nictest.agent.ops import op
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.pmd_ops")

OptStr = (str, type(None))


class _State:
    def __init__(self) -> None:
        self.ports: Dict[int, object] = {}     # Port and Device handles, one id space
        self.next_id = 1
        self.rx_jobs: Dict[int, dict] = {}
        self.hooked_agent = None

    def close_all(self) -> None:
        for port_id in sorted(self.ports):
            port = self.ports.pop(port_id)
            try:
                log.warning("closing PMD port %d (%s)", port_id, port.address)
                port.close()
            except Exception:  # noqa: BLE001 - close the others anyway
                log.exception("closing PMD port %d failed", port_id)
        self.rx_jobs.clear()


_state = _State()


def _hook(agent) -> None:
    """(Re-)register close_all as the newest shutdown hook."""
    agent.cancel_shutdown(_state.close_all)
    agent.on_shutdown(_state.close_all)


def _open_handle(handle_id: int, cls, kind: str, opener: str):
    handle = _state.ports.get(handle_id)
    if handle is None or not isinstance(handle, cls):
        ids = sorted(i for i, h in _state.ports.items() if isinstance(h, cls))
        raise StateError(f"no open PMD {kind} {handle_id}; open {kind}s: {ids or 'none'} ({opener} first)")
    return handle


def _port(port_id: int):
    from nictest.pmd import Port

    return _open_handle(port_id, Port, "port", "pmd_open")


def _device(device_id: int):
    from nictest.pmd import Device

    return _open_handle(device_id, Device, "device", "pmd_device_open")


def _add(agent, handle) -> int:
    handle_id = _state.next_id
    _state.next_id += 1
    _state.ports[handle_id] = handle
    _hook(agent)
    return handle_id


def _refuse_if_open(address: str) -> None:
    from nictest.pmd import Device

    for handle_id, handle in _state.ports.items():
        if handle.address == address:
            kind, closer = ("device", "pmd_device_close") if isinstance(handle, Device) else ("port", "pmd_close")
            raise StateError(f"{address} is already open as PMD {kind} {handle_id}: {closer} it first")


def close_ports_for(address: str) -> int:
    """Close every port or device on `address` (for the binding layer before it restores); returns how many."""
    n = 0
    for port_id, port in list(_state.ports.items()):
        if port.address == address:
            _state.ports.pop(port_id).close()
            _state.rx_jobs.pop(port_id, None)
            n += 1
    return n


def interrupt_and_close(address: str) -> list:
    """From another thread (a removal request): stop the loop running on each port of
    `address`, then close it; its receive job stays, so pmd_rx_wait reports the
    interruption. Returns the port ids closed."""
    closed = []
    for port_id, port in list(_state.ports.items()):
        if port.address == address:
            if hasattr(port, "interrupt"):
                port.interrupt()
            _state.ports.pop(port_id, None)
            port.close()  # waits for the interrupted loop to return
            closed.append(port_id)
    return closed


@op("pmd_build")
def pmd_build(agent) -> dict:
    from nictest import pmd

    result = pmd.build()
    return {"hash": result.hash, "seconds": round(result.seconds, 3), "cached": result.cached, "path": result.path}


@op("pmd_open", address=str, backend=str, rx_ring=int, tx_ring=int, iova_base=int)
def pmd_open(agent, address, backend="vfio", rx_ring=512, tx_ring=512, iova_base=0) -> dict:
    from nictest import pmd

    _refuse_if_open(address)
    port = pmd.Port(address, backend=backend, rx_ring=rx_ring, tx_ring=tx_ring, iova_base=iova_base)
    port_id = _add(agent, port)
    if backend == "vfio":
        from nictest.agent.removal_ops import watch_of
        watch_of(agent).watch(port_id, port)  # the kernel's removal waits for this port's close
    return _info(port_id, port)


def _info(port_id: int, port) -> dict:
    info = port.info()
    info["port"] = port_id
    dump = port.register_dump()
    info["registers"] = {r["name"]: r["value"] for r in dump}   # generic name -> value
    info["register_dump"] = dump                                 # with the datasheet's names
    return info


@op("pmd_models")
def pmd_models(agent) -> dict:
    """The PMD's ID table, and the one sentence that lists its drivers."""
    from nictest import pmd

    table = pmd.models()
    return {"models": table, "drivers": pmd.drivers_text(table)}


@op("pmd_model_for", vendor=str, device=str)
def pmd_model_for(agent, vendor, device) -> dict:
    """The ID table's entry for vendor:device (hex), or {"model": None, "drivers": ...}."""
    from nictest import pmd

    return {"model": pmd.model_for(vendor, device), "drivers": pmd.drivers_text(pmd.models())}


@op("pmd_reg", port=int, register=str, value=int)
def pmd_reg(agent, port, register, value=-1) -> dict:
    """A register by its generic name ("rx ring base", ...); with value >= 0 write it first."""
    p = _port(port)
    if value >= 0:
        p.reg_write_named(register, value)
    regs = p.registers()
    if register not in regs:
        raise StateError(f"the {p.info()['driver']} driver exports no register {register!r}; it has: {sorted(regs)}")
    return {"register": register, "value": regs[register]}


# --- a device opened without a driver (model-independent VFIO/UIO checks) -----

@op("pmd_device_open", address=str, backend=str)
def pmd_device_open(agent, address, backend="vfio") -> dict:
    """Open any NIC through VFIO/UIO with no driver: regions, IRQs, config, its BAR mapped."""
    from nictest import pmd

    _refuse_if_open(address)
    dev = pmd.Device(address, backend=backend)
    info = dev.info()
    info["device_handle"] = _add(agent, dev)
    if backend == "vfio":
        from nictest.agent.removal_ops import watch_of
        watch_of(agent).watch(info["device_handle"], dev)
    return info


@op("pmd_device_info", device=int)
def pmd_device_info(agent, device) -> dict:
    return _device(device).info()


@op("pmd_device_config", device=int, offset=int, length=int)
def pmd_device_config(agent, device, offset=0, length=64) -> dict:
    """Config space bytes read through the backend (VFIO config region / sysfs config), as hex."""
    return {"offset": offset, "hex": _device(device).config(offset, length).hex()}


@op("pmd_device_bar_read", device=int, offset=int)
def pmd_device_bar_read(agent, device, offset=0) -> dict:
    """A dword of the mapped BAR through the mapping, and through the fd when the backend can."""
    from nictest.errors import PmdError

    dev = _device(device)
    info = dev.info()
    out = {"bar": info["bar"], "offset": offset, "mapped": dev.bar_read(offset)}
    try:
        out["read"] = dev.region_read(info["bar"], offset)
    except PmdError as exc:
        out["read"], out["read_error"] = None, str(exc)
    return out


@op("pmd_device_close", device=int)
def pmd_device_close(agent, device) -> dict:
    dev = _device(device)
    _state.ports.pop(device)
    dev.close()
    if getattr(agent, "_removal_watch", None) is not None:
        agent._removal_watch.forget(device)
    if not _state.ports:
        agent.cancel_shutdown(_state.close_all)
    return {"closed": True, "address": dev.address}


@op("pmd_info", port=int)
def pmd_info(agent, port) -> dict:
    return _info(port, _port(port))


@op("pmd_stats", port=int)
def pmd_stats(agent, port) -> dict:
    return _port(port).stats()


@op("pmd_link", port=int, timeout_ms=int)
def pmd_link(agent, port, timeout_ms=0) -> dict:
    return _port(port).link(timeout_ms)


@op("pmd_tx", port=int, count=int, size=int, seq_start=int, dst=OptStr, rate_pps=int, timeout_ms=int)
def pmd_tx(agent, port, count, size=64, seq_start=0, dst=None, rate_pps=0, timeout_ms=2000) -> dict:
    return _port(port).tx(count, size, seq_start=seq_start, dst=dst, rate_pps=rate_pps, timeout_ms=timeout_ms)


@op("pmd_rx", port=int, count=int, timeout_ms=int, expect_seq=int)
def pmd_rx(agent, port, count, timeout_ms=1000, expect_seq=0) -> dict:
    return _port(port).rx(count, timeout_ms=timeout_ms, expect_seq=expect_seq)


@op("pmd_rx_start", port=int, count=int, timeout_ms=int, expect_seq=int)
def pmd_rx_start(agent, port, count, timeout_ms=5000, expect_seq=0) -> dict:
    """Receive in a background thread (the C loop runs without the GIL), so the
    agent can meanwhile make the peer send; collect with pmd_rx_wait."""
    p = _port(port)
    if port in _state.rx_jobs and _state.rx_jobs[port]["thread"].is_alive():
        raise StateError(f"PMD port {port} is already receiving: pmd_rx_wait first")
    job: dict = {"result": None, "error": None}

    def run() -> None:
        try:
            job["result"] = p.rx(count, timeout_ms=timeout_ms, expect_seq=expect_seq)
        except Exception as exc:  # noqa: BLE001 - handed to pmd_rx_wait
            job["error"] = exc

    job["thread"] = threading.Thread(target=run, name=f"pmd-rx-{port}", daemon=True)
    _state.rx_jobs[port] = job
    job["thread"].start()
    return {"started": True}


@op("pmd_rx_wait", port=int, timeout_ms=int)
def pmd_rx_wait(agent, port, timeout_ms=60000) -> dict:
    job = _state.rx_jobs.get(port)
    if job is None:
        raise StateError(f"PMD port {port} has no receive running: pmd_rx_start first")
    job["thread"].join(timeout_ms / 1000)
    if job["thread"].is_alive():
        raise StateError(f"PMD port {port} is still receiving after {timeout_ms} ms")
    del _state.rx_jobs[port]
    if job["error"] is not None:
        raise job["error"]
    return job["result"]


@op("pmd_txrx", tx_port=int, rx_port=int, count=int, size=int, seq_start=int, timeout_ms=int)
def pmd_txrx(agent, tx_port, rx_port, count, size=64, seq_start=0, timeout_ms=2000) -> dict:
    from nictest import pmd

    return pmd.txrx(_port(tx_port), _port(rx_port), count, size, seq_start=seq_start, timeout_ms=timeout_ms)


@op("pmd_pingpong", port_a=int, port_b=int, count=int, size=int, timeout_ms=int)
def pmd_pingpong(agent, port_a, port_b, count, size=64, timeout_ms=1000) -> dict:
    from nictest import pmd

    return pmd.pingpong(_port(port_a), _port(port_b), count, size, timeout_ms=timeout_ms)


@op("pmd_kernel_tx", ifname=str, count=int, size=int, seq_start=int, dst=OptStr, timeout_ms=int)
def pmd_kernel_tx(agent, ifname, count, size=64, seq_start=0, dst=None, timeout_ms=2000) -> dict:
    from nictest import pmd

    return pmd.kernel_tx(ifname, count, size, seq_start=seq_start, dst=dst, timeout_ms=timeout_ms)


@op("pmd_kernel_rx", ifname=str, count=int, timeout_ms=int, expect_seq=int)
def pmd_kernel_rx(agent, ifname, count, timeout_ms=1000, expect_seq=0) -> dict:
    from nictest import pmd

    return pmd.kernel_rx(ifname, count, timeout_ms=timeout_ms, expect_seq=expect_seq)


@op("pmd_hugepages")
def pmd_hugepages(agent) -> dict:
    from nictest import pmd

    return pmd.hugepages()


@op("pmd_close", port=int)
def pmd_close(agent, port) -> dict:
    p = _state.ports.pop(port, None)
    if p is None:
        return {"closed": False, "reason": f"no open PMD port {port}"}
    _state.rx_jobs.pop(port, None)
    p.close()
    if getattr(agent, "_removal_watch", None) is not None:
        agent._removal_watch.forget(port)
    if not _state.ports:
        agent.cancel_shutdown(_state.close_all)
    return {"closed": True, "address": p.address}


def open_ports() -> Dict[int, str]:
    """port id -> PCI address, for status displays."""
    return {port_id: port.address for port_id, port in _state.ports.items()}


def _reset_for_tests(state: Optional[_State] = None) -> None:
    global _state
    _state = state or _State()


# --- evidence the suites need beyond the port's own report --------------------

# linux/vfio.h: _IO(VFIO_TYPE ';', VFIO_BASE 100 + n)
_VFIO_GET_API_VERSION = 0x3B64
_VFIO_CHECK_EXTENSION = 0x3B65
_VFIO_GROUP_GET_STATUS = 0x3B67
_VFIO_TYPE1_IOMMU = 1
_VFIO_GROUP_FLAGS_VIABLE = 1
_VFIO_GROUP_FLAGS_CONTAINER_SET = 2


@op("vfio_probe", group=int)
def vfio_probe(agent, group) -> dict:
    """Ask VFIO directly (no C, no port): API version, TYPE1 extension, group status.
    Call it while the group is bound to vfio-pci but NOT open (a group has one opener)."""
    import fcntl
    import os
    import struct

    out: dict = {"group": group}
    fd = os.open("/dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
    try:
        out["api_version"] = fcntl.ioctl(fd, _VFIO_GET_API_VERSION)
        out["type1"] = fcntl.ioctl(fd, _VFIO_CHECK_EXTENSION, _VFIO_TYPE1_IOMMU)
    finally:
        os.close(fd)
    gfd = os.open(f"/dev/vfio/{group}", os.O_RDWR | os.O_CLOEXEC)
    try:
        raw = bytearray(struct.pack("II", 8, 0))
        fcntl.ioctl(gfd, _VFIO_GROUP_GET_STATUS, raw, True)
        flags = struct.unpack("II", raw)[1]
    finally:
        os.close(gfd)
    out["group_flags"] = flags
    out["viable"] = bool(flags & _VFIO_GROUP_FLAGS_VIABLE)
    out["container_set"] = bool(flags & _VFIO_GROUP_FLAGS_CONTAINER_SET)
    return out


@op("pmd_memory")
def pmd_memory(agent) -> dict:
    """This agent's hugetlb memory (smaps_rollup) and the host's free hugepages."""
    from nictest import pmd

    kb = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Private_Hugetlb", "Shared_Hugetlb"):
                kb[key] = int(rest.split()[0])
    return {"hugetlb_bytes": sum(kb.values()) * 1024, **pmd.hugepages()}


def _pagemap_phys(virt: int) -> int:
    """Physical address of `virt` in this process from /proc/self/pagemap (0: hidden or absent)."""
    import os
    import struct

    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(virt // page * 8)
        (entry,) = struct.unpack("<Q", f.read(8))
    if not entry >> 63 & 1:
        return 0
    return (entry & ((1 << 55) - 1)) * page + virt % page


@op("pmd_dma_buffers", port=int, count=int, size=int)
def pmd_dma_buffers(agent, port, count=8, size=2048) -> list:
    """Carve `count` buffers from the port's spare DMA memory: [{bus, offset, size, virt, phys}].
    phys is what /proc/self/pagemap says for the buffer's virtual address (read here in Python,
    independently of the C resolver), so a test can compare it with the bus address under UIO."""
    p = _port(port)
    out = []
    for _ in range(count):
        buf = p.dma_alloc(size)
        virt = int(p.ffi.cast("uintptr_t", p.ffi.from_buffer(buf["buffer"])))
        out.append({"bus": buf["bus"], "offset": buf["offset"], "size": buf["size"], "virt": virt,
                    "phys": _pagemap_phys(virt)})
    return out


# --- the kernel side of a cabled peer -----------------------------------------

def _read_int(path: str):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _write(path: str, text: str) -> None:
    import os

    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _link_flags(ifname: str) -> list:
    from nictest.agent.net_ops import ip_json

    links = ip_json("link", "show", "dev", ifname)
    if not links:
        raise StateError(f"no netdev {ifname}: is the NIC on its kernel driver?")
    return links[0].get("flags", [])


@op("net_prepare", ifname=str, up=bool, ipv6=bool, carrier_timeout_ms=int)
def net_prepare(agent, ifname, up=True, ipv6=False, carrier_timeout_ms=10000) -> dict:
    """Set a netdev's admin state and IPv6 (disable_ipv6 sysctl); when bringing it up, wait
    for carrier (LOWER_UP). Returns the previous {up, ipv6} so the caller can put it back,
    and {carrier, carrier_seconds}."""
    import subprocess
    import time

    from nictest.agent.net_ops import netdev_name

    sysctl = f"/proc/sys/net/ipv6/conf/{netdev_name(ifname)}/disable_ipv6"
    flags = _link_flags(ifname)
    disabled = _read_int(sysctl)
    previous = {"up": "UP" in flags, "ipv6": None if disabled is None else not disabled}
    if disabled is not None and bool(disabled) == ipv6:
        _write(sysctl, "0" if ipv6 else "1")
    if previous["up"] != up:
        subprocess.run(["ip", "link", "set", "dev", ifname, "up" if up else "down"],
                       check=True, capture_output=True, timeout=10)
    started = time.monotonic()
    carrier = "LOWER_UP" in _link_flags(ifname)
    if up:
        deadline = started + carrier_timeout_ms / 1000
        while not carrier and time.monotonic() < deadline:
            time.sleep(0.1)
            carrier = "LOWER_UP" in _link_flags(ifname)
    log.info("%s: up=%s ipv6=%s carrier=%s (was %s)", ifname, up, ipv6, carrier, previous)
    return {"ifname": ifname, "previous": previous, "carrier": carrier,
            "carrier_seconds": round(time.monotonic() - started, 3)}


@op("net_counters", ifname=str)
def net_counters(agent, ifname) -> dict:
    """The netdev's kernel counters (/sys/class/net/IF/statistics)."""
    from nictest.agent.net_ops import netdev_name

    base = f"/sys/class/net/{netdev_name(ifname)}/statistics"
    return {k: _read_int(f"{base}/{k}") for k in ("rx_packets", "rx_bytes", "rx_dropped", "rx_errors",
                                                     "tx_packets", "tx_bytes", "tx_errors")}


_kernel_rx_jobs: Dict[str, dict] = {}


def _capture_sockets(ifname: str) -> int:
    """AF_PACKET sockets bound to `ifname` for the PMD's ethertype (/proc/net/packet:
    sk RefCnt Type Proto Iface ..., Proto and Iface as the kernel prints them)."""
    from nictest.agent.net_ops import netdev_name

    ifindex = _read_int(f"/sys/class/net/{netdev_name(ifname)}/ifindex")
    n = 0
    with open("/proc/net/packet") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if len(cols) > 4 and cols[3].lower() == "88b5" and cols[4] == str(ifindex):
                n += 1
    return n


@op("pmd_kernel_rx_start", ifname=str, count=int, timeout_ms=int, expect_seq=int, settle_ms=int)
def pmd_kernel_rx_start(agent, ifname, count, timeout_ms=5000, expect_seq=0, settle_ms=5000) -> dict:
    """AF_PACKET capture on `ifname` in a background thread (the C loop runs without the GIL),
    so the agent can meanwhile make the other side send; collect with pmd_kernel_rx_wait.
    Returns once the capture socket is bound (seen in /proc/net/packet), at most settle_ms."""
    import time

    from nictest import pmd

    sockets_before = _capture_sockets(ifname)
    old = _kernel_rx_jobs.get(ifname)
    if old is not None and old["thread"].is_alive():
        raise StateError(f"{ifname} is already capturing: pmd_kernel_rx_wait first")
    job: dict = {"result": None, "error": None}

    def run() -> None:
        try:
            job["result"] = pmd.kernel_rx(ifname, count, timeout_ms=timeout_ms, expect_seq=expect_seq)
        except Exception as exc:  # noqa: BLE001 - handed to pmd_kernel_rx_wait
            job["error"] = exc

    job["thread"] = threading.Thread(target=run, name=f"kernel-rx-{ifname}", daemon=True)
    _kernel_rx_jobs[ifname] = job
    job["thread"].start()
    deadline = time.monotonic() + settle_ms / 1000
    while _capture_sockets(ifname) <= sockets_before and job["thread"].is_alive():
        if time.monotonic() >= deadline:
            raise StateError(f"the capture socket on {ifname} was not bound within {settle_ms} ms")
        time.sleep(0.01)
    return {"started": True}


@op("pmd_kernel_rx_wait", ifname=str, timeout_ms=int)
def pmd_kernel_rx_wait(agent, ifname, timeout_ms=60000) -> dict:
    job = _kernel_rx_jobs.get(ifname)
    if job is None:
        raise StateError(f"{ifname} has no capture running: pmd_kernel_rx_start first")
    job["thread"].join(timeout_ms / 1000)
    if job["thread"].is_alive():
        raise StateError(f"{ifname} is still capturing after {timeout_ms} ms")
    del _kernel_rx_jobs[ifname]
    if job["error"] is not None:
        raise job["error"]
    return job["result"]
