"""errno -> PmdError mapping and the pmd agent ops' bookkeeping (no C, no hardware)."""
from __future__ import annotations

import errno
import os

import pytest

from nictest import errors
from nictest.agent import ops as agent_ops
from nictest.agent import pmd_ops  # noqa: F401 - registers the pmd ops
from nictest.agent.ports import ports
from nictest.agent.server import Agent
from nictest.pmd.port import pmd_error


@pytest.mark.parametrize("code", [errno.ENODEV, errno.EPERM, errno.ENOMEM, errno.ETIMEDOUT, errno.EBUSY])
def test_negative_errno_maps_to_pmd_error(code):
    exc = pmd_error("open", -code, "0000:00:03.0 via vfio", "IOMMU group 3 is not viable")
    assert isinstance(exc, errors.PmdError) and isinstance(exc, errors.NictestError)
    assert exc.op == "open" and exc.errno == code
    text = str(exc)
    assert os.strerror(code) in text and f"errno {code}" in text
    assert "0000:00:03.0 via vfio" in text and "not viable" in text


def test_positive_code_is_taken_as_errno():
    assert pmd_error("tx", errno.EINVAL).errno == errno.EINVAL


def test_pmd_error_crosses_the_protocol_with_op_and_errno():
    from nictest.agent.server import _error

    reply = _error(7, pmd_error("rx", -errno.ETIMEDOUT))
    assert reply["error"]["type"] == "PmdError"
    assert reply["error"]["op"] == "rx" and reply["error"]["errno"] == errno.ETIMEDOUT
    assert errors.by_name(reply["error"]["type"]) is errors.PmdError


class FakePort:
    closed_order: list = []

    def __init__(self, address, backend="vfio", rx_ring=512, tx_ring=512, iova_base=0):
        self.address, self.backend = address, backend
        self.closed = False

    def info(self):
        return {"address": self.address, "mac": "52:54:00:00:03:10", "status": 0x283}

    def register_dump(self):
        return [{"name": "status", "hw": "STATUS", "offset": 8, "value": 0x283}]

    def close(self):
        self.closed = True
        FakePort.closed_order.append(self.address)

    def request_eventfd(self, eventfd):
        self.request = eventfd  # what the kernel would signal on removal

    def interrupt(self):
        self.interrupted = True


class FakeDevice:
    def __init__(self, address, backend="vfio", vf_token=""):
        self.address, self.backend = address, backend
        self.closed = False

    def info(self):
        return {"address": self.address, "bar": 0, "irqs": [{"index": 3, "name": "ERR", "present": False}]}

    def close(self):
        self.closed = True

    def request_eventfd(self, eventfd):
        # conventional PCI: VFIO has no device request channel for it
        raise errors.PmdError("request_eventfd", 22, "no REQ IRQ on a conventional PCI function")


@pytest.fixture
def agent(monkeypatch):
    import nictest.pmd

    monkeypatch.setattr(nictest.pmd, "Port", FakePort)
    monkeypatch.setattr(nictest.pmd, "Device", FakeDevice)
    FakePort.closed_order = []
    return Agent(ops=agent_ops.OPS)  # a new agent: new services, nothing open


def call(agent, op, **args):
    return agent.dispatch({"id": 1, "op": op, "args": args})


def test_open_info_close(agent):
    opened = call(agent, "pmd_open", address="0000:00:03.0")
    assert opened["port"] == 1 and opened["registers"] == {"status": 0x283}
    assert call(agent, "pmd_info", port=1)["mac"] == "52:54:00:00:03:10"
    with pytest.raises(errors.StateError, match="already open as PMD port 1"):
        call(agent, "pmd_open", address="0000:00:03.0")
    assert call(agent, "pmd_close", port=1) == {"closed": True, "address": "0000:00:03.0"}
    assert call(agent, "pmd_close", port=1)["closed"] is False
    with pytest.raises(errors.StateError, match="no open PMD port 1"):
        call(agent, "pmd_stats", port=1)
    assert not agent.lease_armed()  # nothing open: nothing arms the lease


def test_ports_close_before_an_earlier_restore_hook(agent):
    events = []
    agent.on_shutdown(lambda: events.append(("restore", list(FakePort.closed_order))))
    call(agent, "pmd_open", address="0000:00:03.0")
    agent.on_shutdown(lambda: events.append(("restore-late", list(FakePort.closed_order))))
    call(agent, "pmd_open", address="0000:00:04.0")  # re-registers: newest again
    agent.run_shutdown_hooks()
    assert FakePort.closed_order == ["0000:00:03.0", "0000:00:04.0"]
    # Both restore hooks ran after every port was closed.
    assert events == [("restore-late", FakePort.closed_order), ("restore", FakePort.closed_order)]


def test_close_ports_for_an_address(agent):
    call(agent, "pmd_open", address="0000:00:03.0")
    call(agent, "pmd_open", address="0000:00:04.0")
    assert ports(agent).close_address("0000:00:04.0") == 1
    assert ports(agent).addresses() == {1: "0000:00:03.0"}


def test_a_device_and_a_port_never_share_an_address_or_an_id(agent):
    dev = call(agent, "pmd_device_open", address="0000:00:03.0")
    assert dev["device_handle"] == 1 and dev["irqs"][0]["present"] is False
    with pytest.raises(errors.StateError, match="already open as PMD device 1: pmd_device_close it first"):
        call(agent, "pmd_open", address="0000:00:03.0")
    with pytest.raises(errors.StateError, match="no open PMD port 1"):
        call(agent, "pmd_stats", port=1)  # a device handle is not a port
    assert call(agent, "pmd_open", address="0000:00:04.0")["port"] == 2
    assert call(agent, "removal_events")["watched"] == ["0000:00:04.0"], "a refused request channel is no error"
    with pytest.raises(errors.StateError, match="no open PMD device 2"):
        call(agent, "pmd_device_info", device=2)
    assert ports(agent).close_address("0000:00:03.0") == 1  # the binding layer closes devices too
    assert call(agent, "pmd_close", port=2)["closed"] is True
    assert not agent.lease_armed()


def test_a_removal_request_closes_the_port_and_the_entry_of_the_gone_device(agent, tmp_path, monkeypatch):
    """The kernel signals the port's device request eventfd (a removal): the agent's watch
    interrupts and closes the port and, the device being gone, closes its journal entry."""
    import time

    from nictest.binding.journal import Journal

    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("NICTEST_LOCK_DIR", str(tmp_path / "locks"))
    Journal().write({"address": "0000:00:03.0", "driver": "e1000e", "target": "vfio-pci", "state": "bound"})
    call(agent, "pmd_open", address="0000:00:03.0")
    watch = agent._removal_watch
    watch.devices_dir = str(tmp_path / "devices")  # empty: the device is already gone
    assert call(agent, "removal_events") == {"events": [], "watched": ["0000:00:03.0"]}
    port = ports(agent).get(1)
    os.eventfd_write(port.request, 1)
    deadline = time.monotonic() + 5
    # The event shows once the port is closed, with gone None until the agent knows the outcome.
    while [e["gone"] for e in call(agent, "removal_events")["events"]] != [True] and time.monotonic() < deadline:
        time.sleep(0.05)
    [event] = call(agent, "removal_events")["events"]
    assert event["address"] == "0000:00:03.0" and event["ports_closed"] == [1] and event["gone"] is True
    assert event["journal"] == "closed: device gone" and Journal().read("0000:00:03.0") is None
    assert port.interrupted and port.closed and ports(agent).addresses() == {}
    assert call(agent, "pmd_close", port=1)["closed"] is False
    watch._thread is None or watch._thread.join(timeout=2)
    assert watch.close not in agent._hooks, "the watch left its shutdown hook behind with nothing watched"
