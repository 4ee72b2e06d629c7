"""The agent's interrupt ops over a fake PMD port: an automasked (INTx) line is handled like an
interrupt handler would (the device's causes read, then the line unmasked at VFIO) whenever an
op finds its eventfd fired; MSI-X vectors are only counted. Real eventfds, no device."""
from __future__ import annotations

import os

import pytest

from nictest.agent import irq_ops
from nictest.agent.ports import ports
from nictest.agent.server import Agent
from nictest.pmd import Port

EVENTFD, MASKABLE, AUTOMASKED = 1, 2, 4


class FakePort(Port):
    """The Port methods irq_ops uses; a line that asserts while causes are pending."""

    def __init__(self, address="0000:00:03.0") -> None:   # no C handle
        self.address = address
        self.fds = {}
        self.calls = []
        self.causes = 0
        self.closed_fds = False

    def info(self) -> dict:
        return {"irqs": [{"index": 0, "name": "INTX", "flags": EVENTFD | MASKABLE | AUTOMASKED, "count": 1,
                          "present": True},
                         {"index": 2, "name": "MSIX", "flags": EVENTFD, "count": 3, "present": True}]}

    def irq_eventfds(self, index, fds):
        self.calls.append(("eventfds", index, len(fds)))
        self.fds = {i: fd for i, fd in enumerate(fds)}

    def fire(self, vector=0, causes=0):
        self.causes |= causes
        os.eventfd_write(self.fds[vector], 1)

    def irq_trigger(self, index, vector):
        self.calls.append(("trigger", index, vector))
        self.fire(vector)

    def irq_enable(self, rx_vector, other_vector):
        self.calls.append(("enable", rx_vector, other_vector))

    def irq_ack(self):
        got, self.causes = self.causes, 0
        self.calls.append(("ack", got))
        return got

    def irq_unmask(self, index, vector):
        self.calls.append(("unmask", index, vector))

    def irq_disable(self, index):
        self.calls.append(("disable", index))

    def close(self):
        pass


@pytest.fixture
def agent_port():
    agent = Agent(ops={})
    port = FakePort()
    port_id = ports(agent).add(port)
    yield agent, port_id, port
    agent.service(irq_ops.Irqs).close()


def test_intx_is_automasked_and_a_software_trigger_is_unmasked_without_reading_causes(agent_port):
    agent, pid, port = agent_port
    assert irq_ops.pmd_irq_setup(agent, port=pid, index="intx", count=1)["automasked"] is True
    irq_ops.pmd_irq_trigger(agent, port=pid, vector=0)
    got = irq_ops.pmd_irq_wait(agent, port=pid, vector=0, timeout_ms=1000)
    assert got["count"] == 1 and got["causes"] == []
    assert port.calls[-2:] == [("trigger", 0, 0), ("unmask", 0, 0)]   # not enabled: no cause read


def test_intx_interrupt_reads_the_causes_before_unmasking(agent_port):
    agent, pid, port = agent_port
    irq_ops.pmd_irq_setup(agent, port=pid, index="intx", count=1)
    irq_ops.pmd_irq_enable(agent, port=pid, rx_vector=0, other_vector=0)
    port.fire(0, causes=0x80)
    got = irq_ops.pmd_irq_wait(agent, port=pid, vector=0, timeout_ms=1000)
    assert got["count"] == 1 and got["causes"] == [0x80]
    assert port.calls[-2:] == [("ack", 0x80), ("unmask", 0, 0)]
    # found by a count read too, and nothing left to hand out afterwards
    port.fire(0, causes=0x04)
    assert irq_ops.pmd_irq_counts(agent, port=pid) == {"counts": [1], "causes": [0x04]}
    assert irq_ops.pmd_irq_counts(agent, port=pid) == {"counts": [0], "causes": []}
    assert port.calls[-2:] == [("ack", 0x04), ("unmask", 0, 0)]


def test_intx_ack_op_unmasks_the_line(agent_port):
    agent, pid, port = agent_port
    irq_ops.pmd_irq_setup(agent, port=pid, index="intx", count=1)
    port.causes = 0x80
    assert irq_ops.pmd_irq_ack(agent, port=pid) == {"causes": 0x80, "unmasked": True}
    assert port.calls[-2:] == [("ack", 0x80), ("unmask", 0, 0)]


def test_msix_vectors_are_counted_only(agent_port):
    agent, pid, port = agent_port
    assert irq_ops.pmd_irq_setup(agent, port=pid, index="msix", count=3)["automasked"] is False
    irq_ops.pmd_irq_enable(agent, port=pid, rx_vector=0, other_vector=2)
    port.fire(2, causes=0x04)
    got = irq_ops.pmd_irq_wait(agent, port=pid, vector=2, timeout_ms=1000)
    assert got == {"count": 1, "seconds": got["seconds"], "causes": []}
    assert irq_ops.pmd_irq_ack(agent, port=pid) == {"causes": 0x04, "unmasked": False}
    assert not [c for c in port.calls if c[0] == "unmask"]


def test_teardown_disables_the_index_and_closes_the_eventfds(agent_port):
    agent, pid, port = agent_port
    irq_ops.pmd_irq_setup(agent, port=pid, index="intx", count=1)
    fd = port.fds[0]
    irq_ops.pmd_irq_teardown(agent, port=pid)
    assert port.calls[-1] == ("disable", 0)
    with pytest.raises(OSError):
        os.fstat(fd)
