"""Interrupts through VFIO on an open PMD port: eventfds per vector, their counters, a
software trigger, and the driver's side (route, mask, acknowledge).

The Irqs service owns the eventfds (one per vector of the index set up) of each port;
they are closed when the port is released (Ports.on_release) or at shutdown. Reading an
eventfd returns how many times its vector fired since the previous read (and resets it),
so each op that reads reports counts since the last read.
"""
from __future__ import annotations

import os
import select
import time
from typing import Dict, List, Tuple

from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.agent.service import Service
from nictest.errors import StateError

INDEXES = {"intx": 0, "msi": 1, "msix": 2}


class Irqs(Service):
    close_order = 25  # before Ports (30): the fds go before the device

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._fds: Dict[int, Tuple[int, List[int]]] = {}   # port id -> (index, eventfds)
        ports(agent).on_release(self.forget)

    def setup(self, port_id: int, index: int, count: int) -> None:
        port = ports(self.agent).get(port_id)
        self.forget(port_id)
        fds = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(count)]
        try:
            port.irq_eventfds(index, fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self._fds[port_id] = (index, fds)

    def get(self, port_id: int) -> Tuple[int, List[int]]:
        if port_id not in self._fds:
            raise StateError(f"port {port_id} has no interrupt eventfds (pmd_irq_setup first)")
        return self._fds[port_id]

    def counts(self, port_id: int) -> List[int]:
        return [_read(fd) for fd in self.get(port_id)[1]]

    def wait(self, port_id: int, vector: int, timeout: float) -> Tuple[int, float]:
        fds = self.get(port_id)[1]
        if not 0 <= vector < len(fds):
            raise ValueError(f"vector {vector}: port {port_id} has eventfds for vectors 0..{len(fds) - 1}")
        started = time.monotonic()
        ready, _, _ = select.select([fds[vector]], [], [], max(timeout, 0.0))
        return (_read(fds[vector]) if ready else 0), time.monotonic() - started

    def forget(self, port_id: int) -> None:
        entry = self._fds.pop(port_id, None)
        if entry is None:
            return
        try:
            ports(self.agent).get(port_id).irq_disable(entry[0])
        except Exception:  # the port may be going away already: closing its fd tears the IRQs down
            pass
        for fd in entry[1]:
            os.close(fd)

    def close(self) -> None:
        for port_id in list(self._fds):
            self.forget(port_id)


def _read(fd: int) -> int:
    try:
        return int.from_bytes(os.read(fd, 8), "little")
    except BlockingIOError:
        return 0


def irqs(agent) -> Irqs:
    return agent.service(Irqs)


@op("pmd_irq_setup", port=int, index=str, count=int)
def pmd_irq_setup(agent, port, index="msix", count=1) -> dict:
    """One eventfd per vector 0..count-1 of VFIO IRQ index `index` (intx, msi, msix)."""
    ports(agent).get(port)   # a port that is not open: StateError before anything else
    if index not in INDEXES:
        raise ValueError(f"index {index!r}: use one of {', '.join(INDEXES)}")
    irqs(agent).setup(port, INDEXES[index], count)
    return {"index": index, "count": count}


@op("pmd_irq_counts", port=int)
def pmd_irq_counts(agent, port) -> dict:
    """How often each vector fired since the previous read."""
    return {"counts": irqs(agent).counts(port)}


@op("pmd_irq_wait", port=int, vector=int, timeout_ms=int)
def pmd_irq_wait(agent, port, vector, timeout_ms=2000) -> dict:
    """Wait up to timeout_ms for `vector` to fire: {count (0: it did not), seconds}."""
    count, seconds = irqs(agent).wait(port, vector, timeout_ms / 1000.0)
    return {"count": count, "seconds": round(seconds, 4)}


@op("pmd_irq_trigger", port=int, vector=int)
def pmd_irq_trigger(agent, port, vector) -> dict:
    """Fire `vector` from software (VFIO_IRQ_SET_DATA_NONE | ACTION_TRIGGER)."""
    index, _fds = irqs(agent).get(port)
    ports(agent).get(port).irq_trigger(index, vector)
    return {"vector": vector}


@op("pmd_irq_enable", port=int, rx_vector=int, other_vector=int)
def pmd_irq_enable(agent, port, rx_vector, other_vector) -> dict:
    """The driver sends RX queue 0 completions to rx_vector and link changes to other_vector."""
    ports(agent).get(port).irq_enable(rx_vector, other_vector)
    return {"rx_vector": rx_vector, "other_vector": other_vector}


@op("pmd_irq_mask", port=int, masked=bool)
def pmd_irq_mask(agent, port, masked) -> dict:
    ports(agent).get(port).irq_mask(masked)
    return {"masked": masked}


@op("pmd_irq_ack", port=int)
def pmd_irq_ack(agent, port) -> dict:
    """Read (and clear) the device's interrupt causes."""
    return {"causes": ports(agent).get(port).irq_ack()}


@op("pmd_irq_teardown", port=int)
def pmd_irq_teardown(agent, port) -> dict:
    ports(agent).get(port)   # StateError for a port that is not open (its close tore them down)
    irqs(agent).forget(port)
    return {"port": port}
