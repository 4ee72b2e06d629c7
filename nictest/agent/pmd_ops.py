"""Agent ops for the C poll-mode driver (nictest.pmd).

The NIC must already be bound (vfio-pci for backend "vfio", uio_pci_generic
for "uio") by the binding layer; these ops open it, read it and run the C
packet loops. The open ports and devices are the Ports service's (ports.py):
every op that takes a port or device id gets it from there, and an id that is
not open is a StateError. Background receives are jobs (jobs.py) owned by
their port, so closing a port waits for its receive first.

Shutdown: the Ports service closes every open port (RX/TX off, DMA unmapped,
fds closed) before the binding layer restores: a device is never handed back to
its kernel driver while this process still has it open.
"""
from __future__ import annotations

import logging

from nictest.agent.jobs import Jobs
from nictest.agent.net_ops import link_flags
from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.pmd_ops")

OptStr = (str, type(None))
JOB_MARGIN_S = 10.0  # a background receive's bound beyond its own timeout


@op("pmd_build")
def pmd_build(agent) -> dict:
    from nictest import pmd

    result = pmd.build()
    return {"hash": result.hash, "seconds": round(result.seconds, 3), "cached": result.cached, "path": result.path}


@op("pmd_open", address=str, backend=str, rx_ring=int, tx_ring=int, iova_base=int)
def pmd_open(agent, address, backend="vfio", rx_ring=512, tx_ring=512, iova_base=0) -> dict:
    from nictest import pmd

    ports(agent).refuse_if_open(address)
    port = pmd.Port(address, backend=backend, rx_ring=rx_ring, tx_ring=tx_ring, iova_base=iova_base)
    port_id = ports(agent).add(port)
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
    p = ports(agent).get(port)
    if value >= 0:
        p.reg_write_named(register, value)
    regs = p.registers()
    if register not in regs:
        raise StateError(f"the {p.info()['driver']} driver exports no register {register!r}; it has: {sorted(regs)}")
    return {"register": register, "value": regs[register]}


# --- a device opened without a driver (model-independent VFIO/UIO checks) -----

@op("pmd_device_open", address=str, backend=str, vf_token=str)
def pmd_device_open(agent, address, backend="vfio", vf_token="") -> dict:
    """Open any NIC through VFIO/UIO with no driver: regions, IRQs, config, its BAR mapped.
    vf_token: the PF's VF token (a UUID), for a VF whose PF is on vfio-pci."""
    from nictest import pmd

    ports(agent).refuse_if_open(address)
    dev = pmd.Device(address, backend=backend, vf_token=vf_token)
    info = dev.info()
    info["device_handle"] = ports(agent).add(dev)
    if backend == "vfio":
        from nictest.agent.removal_ops import watch_of
        watch_of(agent).watch(info["device_handle"], dev)
    return info


@op("pmd_device_info", device=int)
def pmd_device_info(agent, device) -> dict:
    return ports(agent).device(device).info()


@op("pmd_device_config", device=int, offset=int, length=int)
def pmd_device_config(agent, device, offset=0, length=64) -> dict:
    """Config space bytes read through the backend (VFIO config region / sysfs config), as hex."""
    return {"offset": offset, "hex": ports(agent).device(device).config(offset, length).hex()}


@op("pmd_device_bar_read", device=int, offset=int)
def pmd_device_bar_read(agent, device, offset=0) -> dict:
    """A dword of the mapped BAR through the mapping, and through the fd when the backend can."""
    from nictest.errors import PmdError

    dev = ports(agent).device(device)
    info = dev.info()
    out = {"bar": info["bar"], "offset": offset, "mapped": dev.bar_read(offset)}
    try:
        out["read"] = dev.region_read(info["bar"], offset)
    except PmdError as exc:
        out["read"], out["read_error"] = None, str(exc)
    return out


@op("pmd_device_set_vf_token", device=int, token=str)
def pmd_device_set_vf_token(agent, device, token) -> dict:
    """Set the VF token of an open PF (VFIO): its VFs then open only with this UUID."""
    ports(agent).device(device).set_vf_token(token)
    return {"device": device, "vf_token_set": True}


@op("pmd_device_close", device=int)
def pmd_device_close(agent, device) -> dict:
    ports(agent).device(device)  # StateError unless it is an open device (not a port)
    dev = ports(agent).release(device)
    return {"closed": True, "address": dev.address}


@op("pmd_info", port=int)
def pmd_info(agent, port) -> dict:
    return _info(port, ports(agent).get(port))


@op("pmd_stats", port=int)
def pmd_stats(agent, port) -> dict:
    return ports(agent).get(port).stats()


@op("pmd_link", port=int, timeout_ms=int)
def pmd_link(agent, port, timeout_ms=0) -> dict:
    return ports(agent).get(port).link(timeout_ms)


@op("pmd_tx", port=int, count=int, size=int, seq_start=int, dst=OptStr, rate_pps=int, timeout_ms=int)
def pmd_tx(agent, port, count, size=64, seq_start=0, dst=None, rate_pps=0, timeout_ms=2000) -> dict:
    return ports(agent).get(port).tx(count, size, seq_start=seq_start, dst=dst, rate_pps=rate_pps, timeout_ms=timeout_ms)


@op("pmd_rx", port=int, count=int, timeout_ms=int, expect_seq=int)
def pmd_rx(agent, port, count, timeout_ms=1000, expect_seq=0) -> dict:
    return ports(agent).get(port).rx(count, timeout_ms=timeout_ms, expect_seq=expect_seq)


@op("pmd_rx_start", port=int, count=int, timeout_ms=int, expect_seq=int)
def pmd_rx_start(agent, port, count, timeout_ms=5000, expect_seq=0) -> dict:
    """Receive in a background job (the C loop runs without the GIL), so the
    agent can meanwhile make the peer send; collect with pmd_rx_wait."""
    p = ports(agent).get(port)
    agent.service(Jobs).start(("pmd_rx", port), lambda: p.rx(count, timeout_ms=timeout_ms, expect_seq=expect_seq),
                              limit_s=timeout_ms / 1000 + JOB_MARGIN_S, owner=("port", port),
                              busy=f"PMD port {port} is already receiving: pmd_rx_wait first")
    return {"started": True}


@op("pmd_rx_wait", port=int, timeout_ms=int)
def pmd_rx_wait(agent, port, timeout_ms=60000) -> dict:
    return agent.service(Jobs).collect(("pmd_rx", port), timeout_ms / 1000,
                                       missing=f"PMD port {port} has no receive running: pmd_rx_start first",
                                       still_running=f"PMD port {port} is still receiving after {timeout_ms} ms")


@op("pmd_txrx", tx_port=int, rx_port=int, count=int, size=int, seq_start=int, timeout_ms=int, check=str,
    threads=int)
def pmd_txrx(agent, tx_port, rx_port, count, size=64, seq_start=0, timeout_ms=2000, check="payload",
             threads=1) -> dict:
    """check: "payload" (every byte compared) or "sequence" (rate mode: sequence numbers only);
    threads: 1 (one loop drives both ports) or 2 (TX and RX each on a thread of its own)."""
    from nictest import pmd

    return pmd.txrx(ports(agent).get(tx_port), ports(agent).get(rx_port), count, size, seq_start=seq_start,
                    timeout_ms=timeout_ms, check=check, threads=threads)


@op("pmd_pingpong", port_a=int, port_b=int, count=int, size=int, timeout_ms=int)
def pmd_pingpong(agent, port_a, port_b, count, size=64, timeout_ms=1000) -> dict:
    from nictest import pmd

    return pmd.pingpong(ports(agent).get(port_a), ports(agent).get(port_b), count, size, timeout_ms=timeout_ms)


@op("pmd_forward", port_a=int, port_b=int, size=int, window=int, warm_ms=int, measure_ms=int, timeout_ms=int)
def pmd_forward(agent, port_a, port_b, size=64, window=32, warm_ms=1000, measure_ms=3000, timeout_ms=2000) -> dict:
    """io forwarding between two open ports (testpmd's io mode): what one receives leaves by the
    other; {forwarded, pps, primed, drained, dropped, foreign, desc_errors, ...}."""
    from nictest.pmd import measure

    return measure.forward(ports(agent).get(port_a), ports(agent).get(port_b), size, window, warm_ms, measure_ms,
                           timeout_ms)


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
    try:
        ports(agent).get(port)
    except StateError:
        return {"closed": False, "reason": f"no open PMD port {port}"}
    p = ports(agent).release(port)  # waits for a pmd_rx_start receive on it first
    return {"closed": True, "address": p.address}


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
    p = ports(agent).get(port)
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


@op("net_prepare", ifname=str, up=bool, ipv6=bool, carrier_timeout_ms=int)
def net_prepare(agent, ifname, up=True, ipv6=False, carrier_timeout_ms=10000) -> dict:
    """Set a netdev's admin state and IPv6 (disable_ipv6 sysctl); when bringing it up, wait
    for carrier (LOWER_UP). Returns the previous {up, ipv6} so the caller can put it back,
    and {carrier, carrier_seconds}."""
    import subprocess
    import time

    from nictest.agent.net_ops import netdev_name

    sysctl = f"/proc/sys/net/ipv6/conf/{netdev_name(ifname)}/disable_ipv6"
    flags = link_flags(ifname)
    disabled = _read_int(sysctl)
    previous = {"up": "UP" in flags, "ipv6": None if disabled is None else not disabled}
    if disabled is not None and bool(disabled) == ipv6:
        _write(sysctl, "0" if ipv6 else "1")
    if previous["up"] != up:
        subprocess.run(["ip", "link", "set", "dev", ifname, "up" if up else "down"],
                       check=True, capture_output=True, timeout=10)
    started = time.monotonic()
    carrier = "LOWER_UP" in link_flags(ifname)
    if up:
        deadline = started + carrier_timeout_ms / 1000
        while not carrier and time.monotonic() < deadline:
            time.sleep(0.1)
            carrier = "LOWER_UP" in link_flags(ifname)
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
    job = agent.service(Jobs).start(
        ("kernel_rx", ifname), lambda: pmd.kernel_rx(ifname, count, timeout_ms=timeout_ms, expect_seq=expect_seq),
        limit_s=timeout_ms / 1000 + JOB_MARGIN_S, busy=f"{ifname} is already capturing: pmd_kernel_rx_wait first")
    deadline = time.monotonic() + settle_ms / 1000
    while _capture_sockets(ifname) <= sockets_before and not job.done():
        if time.monotonic() >= deadline:
            raise StateError(f"the capture socket on {ifname} was not bound within {settle_ms} ms")
        time.sleep(0.01)
    return {"started": True}


@op("pmd_kernel_rx_wait", ifname=str, timeout_ms=int)
def pmd_kernel_rx_wait(agent, ifname, timeout_ms=60000) -> dict:
    return agent.service(Jobs).collect(("kernel_rx", ifname), timeout_ms / 1000,
                                       missing=f"{ifname} has no capture running: pmd_kernel_rx_start first",
                                       still_running=f"{ifname} is still capturing after {timeout_ms} ms")
