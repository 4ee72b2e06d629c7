"""Fault-matrix plumbing: the NIC state a scenario must end in, and the session-end table.

Each scenario snapshots its NIC (driver, netdev, MAC, MTU, addresses, driver_override)
before breaking something, then waits for the same snapshot and an empty journal.
The row (scenario, host, NIC state after, journal after, time to recover) goes into
the test's JUnit properties (`reliability`, as JSON) and, via the reports'
user_properties (which xdist carries back to the controller), into a table printed
at the end of the session by fixtures/reliability_table.py (loaded from the top-level
conftest: under xdist the controller never reads this directory's conftest).
"""
from __future__ import annotations

import json
import time

import pytest

from fixtures.pmd import peer_of
from nictest.errors import NictestError
from fixtures.reliability_table import ROW_PROPERTY

RECOVERY_BOUND = 30.0  # seconds a scenario may take to get its NIC back (TCG lab)


def user_driver(host) -> str:
    """The user-space driver this host offers: vfio-pci with an IOMMU, uio_pci_generic without."""
    return "vfio-pci" if host.info.get("iommu") else "uio_pci_generic"


def require_user_driver(host, config) -> str:
    driver = user_driver(host)
    if driver == "uio_pci_generic" and not config.getoption("allow_uio"):
        pytest.skip(f"{host.name} has no IOMMU: its scenarios use uio_pci_generic, pass --allow-uio")
    return driver


def dma_driver_and_peer(host, target: str, config) -> tuple:
    """(driver, peer device) for a scenario that sends frames from `target` to its cabled peer;
    skips where the host cannot do that DMA or `target` has no peer."""
    driver = require_user_driver(host, config)
    if driver == "uio_pci_generic" and host.info.get("iommu"):
        pytest.skip("UIO DMA faults under a translating IOMMU")
    peer_address = peer_of(host.spec, target)
    if peer_address is None:
        pytest.skip(f"{target} has no cabled peer in {host.name}'s `links`")
    return driver, next(d for d in host.call("status")["devices"] if d["address"] == peer_address)


def replayed_by_next_session(host) -> list:
    """Connect as a new pytest session would (HostPool.get replays stale journal entries on
    its first connection); the addresses it replayed."""
    from nictest.plugin.hostpool import HostPool
    pool = HostPool({host.name: host.spec})
    try:
        pool.get(host.name)
        return [r["address"] for r in pool.replayed.get(host.name, [])]
    finally:
        pool.close()


def require_lab(host) -> None:
    if host.spec.kind != "qemu":
        pytest.skip(f"{host.name} is not a QEMU lab: this scenario breaks the host on purpose")


def nic_state(host, address: str) -> dict:
    """What a scenario must leave as it found it."""
    dev = next((d for d in host.call("status")["devices"] if d["address"] == address), None)
    if dev is None:
        return {"present": False}
    addresses = []
    for link in host.call("ip_addrs") if dev.get("netdev") else ():
        if link.get("ifname") == dev["netdev"]:
            addresses = sorted(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []))
    return {"driver": dev.get("driver"), "netdev": dev.get("netdev"), "mac": dev.get("mac"),
            "mtu": dev.get("mtu"), "addresses": addresses, "driver_override": dev.get("driver_override") or None}


def journal_entries(host, address: str | None = None) -> list:
    """Entries covering `address` (a group entry covers each of its members), as "ADDRESS (kind)"."""
    journal = host.call("journal")
    return [f"{e['address']} ({kind})" for kind in ("held", "stale", "persistent") for e in journal[kind]
            if address is None or address in [m["address"] for m in e.get("members") or [e]]]


def group_target(host, config) -> tuple:
    """(first NIC under test that shares its IOMMU group, its group's other endpoints); skips where
    none does or the host cannot give vfio-pci."""
    if user_driver(host) != "vfio-pci":
        pytest.skip(f"{host.name} has no IOMMU: no IOMMU groups to bind")
    wanted = config.getoption("nic") or list(host.spec.nics or ())
    for dev in host.call("status")["devices"]:
        bridges = set(dev.get("iommu_group_bridges") or ())
        peers = [m for m in dev.get("iommu_group_members") or () if m not in bridges]
        if dev["address"] in wanted and peers:
            return dev["address"], peers
    pytest.skip(f"no NIC under test on {host.name} shares its IOMMU group (the shared-group lab has two)")


def differences(before: dict, after: dict) -> dict:
    return {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}


class Scenario:
    """One row of the fault matrix on one NIC of one host."""

    def __init__(self, name: str, host, address: str, record_property) -> None:
        self.name, self.host, self.address = name, host, address
        self._record = record_property
        self.before = nic_state(host, address)
        self.fault_at: float | None = None
        self.row: dict | None = None
        assert self.before.get("driver") and self.before.get("netdev"), (
            f"{address} on {host.name} is not on its kernel driver before the scenario: {self.before}")
        assert not journal_entries(host, address), f"{address} has a journal entry before the scenario"

    def fault(self) -> None:
        """Mark the moment the fault was injected (the recovery clock starts)."""
        self.fault_at = time.monotonic()

    def wait_recovered(self, host=None, timeout: float = RECOVERY_BOUND, note: str = "") -> dict:
        """Poll until the NIC matches its snapshot and has no journal entry; record and assert."""
        host = host or self.host
        started = self.fault_at or time.monotonic()
        deadline = time.monotonic() + timeout
        while True:
            after, journal = nic_state(host, self.address), journal_entries(host, self.address)
            diff = differences(self.before, after)
            if (not diff and not journal) or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        seconds = round(time.monotonic() - started, 1)
        self.record(diff, journal, seconds, note)
        assert not diff, f"{self.name}: {self.address} not restored within {timeout:g}s (before, after): {diff}"
        assert not journal, f"{self.name}: journal not empty after recovery: {journal}"
        return after

    def record(self, diff: dict, journal: list, seconds: float | None, note: str = "") -> None:
        self.row = {
            "scenario": self.name, "host": self.host.name, "nic": self.address,
            "nic_after": "ok (driver/netdev/MAC/MTU/addresses)" if not diff else
                         "; ".join(f"{k}: {a!r} != {b!r}" for k, (a, b) in sorted(diff.items())),
            "journal_after": "empty" if not journal else ", ".join(journal),
            "recover_s": seconds, "note": note,
        }
        self._record(ROW_PROPERTY, json.dumps(self.row, sort_keys=True))


@pytest.fixture
def scenario(request, host, record_property):
    """scenario(name, address) -> Scenario; the NIC is snapshotted at once. A scenario that
    failed half-way may leave its NIC bound with a journal entry: teardown gives it back (as
    the next session would) so the failure stays this test's and not every later test's."""
    made: list = []

    def make(name: str, address: str) -> Scenario:
        made.append(Scenario(name, host, address, record_property))
        return made[-1]
    yield make
    left = [s.address for s in made if journal_entries(host, s.address)]
    if left:
        give_back_left_overs(host, left)


def give_back_left_overs(host, addresses: list, wait: float = RECOVERY_BOUND) -> None:
    """Restore what a failed scenario left on `addresses`: through the test's own agent first
    (it holds what the test bound before failing), then wait for entries another (dying) agent
    still holds to go stale and replay them from a new session; raise if any stays."""
    for address in addresses:
        if journal_entries(host, address):
            try:
                host.call("restore", address=address, timeout=120)
            except NictestError as exc:   # held by another agent, or gone: the replay below decides
                print(f"teardown: restore {address} through the test's agent: {exc}")
    deadline = time.monotonic() + wait
    while any(e.endswith("(held)") for a in addresses for e in journal_entries(host, a)):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    replayed_by_next_session(host)
    still = [e for a in addresses for e in journal_entries(host, a)]
    assert not still, f"teardown could not give back what the scenario left: {still}"


@pytest.fixture
def target(host, request) -> str:
    """The NIC the scenarios break: the first of --nic or the inventory's allow-list (one is enough)."""
    chosen = request.config.getoption("nic") or list(host.spec.nics or ())
    if not chosen:
        pytest.fail(f"no NIC to test on {host.name}: set `nics` in hosts.toml or pass --nic", pytrace=False)
    return chosen[0]


@pytest.fixture
def pmd_built(host) -> dict:
    """The C PMD compiled on the host (cached by source hash; ~40 s the first time after a boot)."""
    return host.call("pmd_build", timeout=600)
