"""Agent ops for the C poll-mode driver (nictest.pmd).

The NIC must already be bound (vfio-pci for backend "vfio", uio_pci_generic
for "uio") by the binding layer; these ops open it, read it and run the C
packet loops. Ports are numbered handles living in this agent process.

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
        self.ports: Dict[int, object] = {}
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


def _port(port_id: int):
    port = _state.ports.get(port_id)
    if port is None:
        raise StateError(f"no open PMD port {port_id}; open ports: {sorted(_state.ports) or 'none'} (pmd_open first)")
    return port


def close_ports_for(address: str) -> int:
    """Close every port on `address` (for the binding layer before it restores); returns how many."""
    n = 0
    for port_id, port in list(_state.ports.items()):
        if port.address == address:
            _state.ports.pop(port_id).close()
            _state.rx_jobs.pop(port_id, None)
            n += 1
    return n


@op("pmd_build")
def pmd_build(agent) -> dict:
    from nictest import pmd

    result = pmd.build()
    return {"hash": result.hash, "seconds": round(result.seconds, 3), "cached": result.cached, "path": result.path}


@op("pmd_open", address=str, backend=str, rx_ring=int, tx_ring=int, iova_base=int)
def pmd_open(agent, address, backend="vfio", rx_ring=512, tx_ring=512, iova_base=0) -> dict:
    from nictest import pmd

    for port_id, port in _state.ports.items():
        if port.address == address:
            raise StateError(f"{address} is already open as PMD port {port_id}: pmd_close it first")
    port = pmd.Port(address, backend=backend, rx_ring=rx_ring, tx_ring=tx_ring, iova_base=iova_base)
    port_id = _state.next_id
    _state.next_id += 1
    _state.ports[port_id] = port
    _hook(agent)
    return _info(port_id, port)


def _info(port_id: int, port) -> dict:
    info = port.info()
    info["port"] = port_id
    info["registers"] = port.registers()
    return info


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
    if not _state.ports:
        agent.cancel_shutdown(_state.close_all)
    return {"closed": True, "address": p.address}


def open_ports() -> Dict[int, str]:
    """port id -> PCI address, for status displays."""
    return {port_id: port.address for port_id, port in _state.ports.items()}


def _reset_for_tests(state: Optional[_State] = None) -> None:
    global _state
    _state = state or _State()
