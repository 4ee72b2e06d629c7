"""The NIC pulled while bound to vfio-pci (QEMU `device_del` on its root port), then put back.

QEMU asks the guest to eject the slot (the lab's q35 root ports use ACPI hotplug:
acpiphp in the guest) and the kernel removes the device. vfio-pci's remove waits
for its user to close the device, holding the device lock (even reading its sysfs
files blocks); it asks through the VFIO device request eventfd, which the agent
registers on every port it opens (nictest.agent.removal_ops).

- bound idle (no port open): the removal completes at once; `restore` finds the
  device gone and closes its journal entry ("device gone");
- PMD running (a receive loop on the port): the agent answers the request, the
  loop stops with ECANCELED naming the removal, the port is closed, the kernel
  finishes, and the agent closes the journal entry itself; it stays alive.

Then `device_add` with the lab's own -device arguments plugs the NIC back: it
comes up on its kernel driver with its netdev, as the scenario found it.
Needs a lab NIC on a hot-pluggable root port with a QEMU id (lab-igb, lab-igb2).
"""
from __future__ import annotations

import time

import pytest

from nictest.agent.removal_ops import GONE_TIMEOUT as AGENT_GONE_TIMEOUT
from nictest.errors import NictestError
from nictest.lab.profiles import profile
from nictest.lab.vm import LabVM
from tests.reliability.conftest import journal_entries, require_lab

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

GONE_BOUND = 30.0   # seconds the guest may take to eject the slot (TCG, loaded machine)
BACK_BOUND = 60.0   # to probe the re-added NIC, name its netdev and let udev settle


def pluggable(host, target: str) -> tuple:
    """(LabVM, QEMU id, device_add argument) of `target`; skips where it cannot be unplugged."""
    require_lab(host)
    if not host.info.get("iommu"):
        pytest.skip(f"{host.name} has no IOMMU: these rows are about vfio-pci")
    lab = profile(host.spec.lab)
    nic = next((n for n in lab.nics if n.guest_address == target), None)
    if nic is None or nic.qemu_id is None:
        pytest.skip(f"{target} on {host.name} is not on a hot-pluggable root port (no QEMU id)")
    return LabVM(host.spec.lab), nic.qemu_id, nic.device_arg(lab.netdev_of(nic))


def present(host, address: str) -> bool:
    return any(d["address"] == address for d in host.call("status", timeout=30)["devices"])


def wait_until(predicate, bound: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if predicate():
            return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    pytest.fail(f"{what} not within {bound:g}s")


def plug_back(vm: LabVM, qemu_id: str, device_arg: str) -> None:
    """device_add unless QEMU still has the device (the finally of every row: the lab keeps its NIC)."""
    if f'id "{qemu_id}"' not in vm.monitor("info pci"):
        vm.monitor(f"device_add {device_arg}")


def test_removed_while_bound_idle(host, target, scenario):
    vm, qemu_id, device_arg = pluggable(host, target)
    run = scenario("surprise removal (QEMU device_del), bound to vfio-pci, idle", target)
    host.call("bind", address=target, driver="vfio-pci")
    try:
        run.fault()
        vm.monitor(f"device_del {qemu_id}")
        gone_s = wait_until(lambda: not present(host, target), GONE_BOUND, f"{target} gone after device_del")
        result = host.call("restore", address=target)
        assert result.get("gone") is True and result.get("reason") == "device gone", result
        assert not journal_entries(host, target), "the entry of the removed device is still in the journal"
    finally:
        plug_back(vm, qemu_id, device_arg)
    run.wait_recovered(timeout=BACK_BOUND, note=f"gone {gone_s}s after device_del; restore: device gone, entry "
                                                "closed; device_add: back on its kernel driver")


def test_removed_while_the_pmd_runs(host, target, scenario, pmd_built):
    vm, qemu_id, device_arg = pluggable(host, target)
    run = scenario("surprise removal (QEMU device_del), vfio-pci, PMD receive loop running", target)
    host.call("bind", address=target, driver="vfio-pci")
    port = None
    try:
        port = host.call("pmd_open", address=target)["port"]
        assert target in host.call("removal_events")["watched"], "no device request eventfd on the port"
        host.call("pmd_rx_start", port=port, count=10 ** 9, timeout_ms=120000)
        run.fault()
        vm.monitor(f"device_del {qemu_id}")

        def answered():   # the agent's event, once it knows whether the kernel finished
            return [e for e in host.call("removal_events", timeout=30)["events"]
                    if e["address"] == target and e["gone"] is not None]
        wait_until(answered, GONE_BOUND + AGENT_GONE_TIMEOUT,
                   f"the agent's answer to the kernel's request for {target}")
        event = answered()[0]
        assert event["ports_closed"] == [port], event
        assert event["gone"], f"{target} still present {AGENT_GONE_TIMEOUT:g}s after the agent closed its port: {event}"
        assert event["journal"] == "closed: device gone", event
        with pytest.raises(NictestError, match="device removal requested") as stopped:
            host.call("pmd_rx_wait", port=port, timeout_ms=30000)
        assert host.call("ping") == {"pong": True}, "the agent is not answering after the removal"
        assert not present(host, target) and not journal_entries(host, target)
    finally:
        if port is not None:
            host.call("pmd_close", port=port)  # a no-op once the removal closed it
        plug_back(vm, qemu_id, device_arg)
    run.wait_recovered(timeout=BACK_BOUND, note=(
        f"request answered {event['closed_s']}s after it came (port closed), device gone after {event['gone_s']}s; "
        f"receive loop: {str(stopped.value).split(': ', 1)[-1][:90]}"))
