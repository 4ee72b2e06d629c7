"""Interrupts through VFIO on an open PMD port: eventfds per vector, their counters, a
software trigger, and the driver's side (route, mask, acknowledge).

The Irqs service owns the eventfds (one per vector of the index set up) of each port;
they are closed when the port is released (Ports.on_release) or at shutdown. Reading an
eventfd returns how many times its vector fired since the previous read (and resets it),
so each op that reads reports counts since the last read.

A level-triggered index (INTx: VFIO says VFIO_IRQ_INFO_AUTOMASKED) is masked by VFIO each
time it signals the eventfd, until user space unmasks it. So whenever an op here finds
such an eventfd fired it does what an interrupt handler does: it reads (and so clears)
the device's causes (the driver's irq_ack, once pmd_irq_enable made the device raise any;
that deasserts the line), then unmasks the line at VFIO (a line still asserted is
signalled again). pmd_irq_ack unmasks it too. The causes read are in the op's answer.
"""
from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.agent.service import Service
from nictest.errors import StateError

INDEXES = {"intx": 0, "msi": 1, "msix": 2}
VFIO_IRQ_INFO_AUTOMASKED = 1 << 2     # linux/vfio.h: the line is masked after each signal


@dataclass
class IrqSet:
    """The eventfds of one port's IRQ index."""
    index: int
    fds: List[int]
    automasked: bool = False          # level-triggered (INTx): unmask after each interrupt
    enabled: bool = False             # the driver routes causes to it (pmd_irq_enable)
    causes: List[int] = field(default_factory=list)   # what the handler read, since the last answer


def _automasked(port, index: int) -> bool:
    for q in port.info().get("irqs", ()):
        if q.get("index") == index and q.get("present"):
            return bool(q.get("flags", 0) & VFIO_IRQ_INFO_AUTOMASKED)
    return False


class Irqs(Service):
    close_order = 25  # before Ports (30): the fds go before the device

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._sets: Dict[int, IrqSet] = {}   # port id -> its index's eventfds
        ports(agent).on_release(self.forget)

    def setup(self, port_id: int, index: int, count: int) -> None:
        port = ports(self.agent).get(port_id)
        self.forget(port_id)
        fds = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(count)]
        try:
            automasked = _automasked(port, index)
            port.irq_eventfds(index, fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self._sets[port_id] = IrqSet(index, fds, automasked)

    def get(self, port_id: int) -> IrqSet:
        if port_id not in self._sets:
            raise StateError(f"port {port_id} has no interrupt eventfds (pmd_irq_setup first)")
        return self._sets[port_id]

    def enabled(self, port_id: int) -> None:
        """The driver now raises causes on this port's vectors (pmd_irq_enable)."""
        if port_id in self._sets:
            self._sets[port_id].enabled = True

    def _handle(self, port_id: int, irq: IrqSet) -> None:
        """An automasked line fired: read the device's causes (deasserting it), then unmask it."""
        port = ports(self.agent).get(port_id)
        if irq.enabled:
            irq.causes.append(port.irq_ack())
        port.irq_unmask(irq.index, 0)

    def ack(self, port_id: int) -> Tuple[int, bool]:
        """Read (and clear) the device's causes; unmask an automasked line after. (causes, unmasked)"""
        port = ports(self.agent).get(port_id)
        causes = port.irq_ack()
        irq = self._sets.get(port_id)
        if irq is not None and irq.automasked:
            port.irq_unmask(irq.index, 0)
            return causes, True
        return causes, False

    def take_causes(self, port_id: int) -> List[int]:
        irq = self._sets.get(port_id)
        if irq is None:
            return []
        out, irq.causes = irq.causes, []
        return out

    def counts(self, port_id: int) -> List[int]:
        irq = self.get(port_id)
        got = [_read(fd) for fd in irq.fds]
        if irq.automasked and any(got):
            self._handle(port_id, irq)
        return got

    def wait(self, port_id: int, vector: int, timeout: float) -> Tuple[int, float]:
        irq = self.get(port_id)
        fds = irq.fds
        if not 0 <= vector < len(fds):
            raise ValueError(f"vector {vector}: port {port_id} has eventfds for vectors 0..{len(fds) - 1}")
        started = time.monotonic()
        ready, _, _ = select.select([fds[vector]], [], [], max(timeout, 0.0))
        count = _read(fds[vector]) if ready else 0
        if count and irq.automasked:
            self._handle(port_id, irq)
        return count, time.monotonic() - started

    def forget(self, port_id: int) -> None:
        irq = self._sets.pop(port_id, None)
        if irq is None:
            return
        try:
            ports(self.agent).get(port_id).irq_disable(irq.index)
        except Exception:  # the port may be going away already: closing its fd tears the IRQs down
            pass
        for fd in irq.fds:
            os.close(fd)

    def close(self) -> None:
        for port_id in list(self._sets):
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
    return {"index": index, "count": count, "automasked": irqs(agent).get(port).automasked}


@op("pmd_irq_counts", port=int)
def pmd_irq_counts(agent, port) -> dict:
    """How often each vector fired since the previous read (causes: what an automasked
    line's handling read from the device meanwhile)."""
    counts = irqs(agent).counts(port)
    return {"counts": counts, "causes": irqs(agent).take_causes(port)}


@op("pmd_irq_wait", port=int, vector=int, timeout_ms=int)
def pmd_irq_wait(agent, port, vector, timeout_ms=2000) -> dict:
    """Wait up to timeout_ms for `vector` to fire: {count (0: it did not), seconds, causes}."""
    count, seconds = irqs(agent).wait(port, vector, timeout_ms / 1000.0)
    return {"count": count, "seconds": round(seconds, 4), "causes": irqs(agent).take_causes(port)}


@op("pmd_irq_trigger", port=int, vector=int)
def pmd_irq_trigger(agent, port, vector) -> dict:
    """Fire `vector` from software (VFIO_IRQ_SET_DATA_NONE | ACTION_TRIGGER)."""
    index = irqs(agent).get(port).index
    ports(agent).get(port).irq_trigger(index, vector)
    return {"vector": vector}


@op("pmd_irq_enable", port=int, rx_vector=int, other_vector=int)
def pmd_irq_enable(agent, port, rx_vector, other_vector) -> dict:
    """The driver sends RX queue 0 completions to rx_vector and link changes to other_vector."""
    ports(agent).get(port).irq_enable(rx_vector, other_vector)
    irqs(agent).enabled(port)
    return {"rx_vector": rx_vector, "other_vector": other_vector}


@op("pmd_irq_mask", port=int, masked=bool)
def pmd_irq_mask(agent, port, masked) -> dict:
    ports(agent).get(port).irq_mask(masked)
    return {"masked": masked}


@op("pmd_irq_ack", port=int)
def pmd_irq_ack(agent, port) -> dict:
    """Read (and clear) the device's interrupt causes; an automasked (INTx) line is unmasked after."""
    causes, unmasked = irqs(agent).ack(port)
    return {"causes": causes, "unmasked": unmasked}


@op("pmd_irq_teardown", port=int)
def pmd_irq_teardown(agent, port) -> dict:
    ports(agent).get(port)   # StateError for a port that is not open (its close tore them down)
    irqs(agent).forget(port)
    return {"port": port}
