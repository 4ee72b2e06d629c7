"""Binding a whole IOMMU group as one unit, against a fake kernel on a synthetic tree.

The tree is shaped like the shared-group lab: two e1000 NICs behind a PCIe-to-PCI
bridge, all three in IOMMU group 6, a virtio management NIC carrying the session.
"""
from __future__ import annotations

import os

import pytest

from fakesysfs import FakeKernel, FakeSysfs
from nictest.agent import binding_ops
from nictest.agent import ops as agent_ops
from nictest.agent.server import Agent
from nictest.binding import group as grouper
from nictest.binding import netstate, safety, state, sysfs_write
from nictest.binding.journal import Journal
from nictest.binding.locks import Locks
from nictest.errors import BindError, DeviceHeld, RefusedError

BRIDGE, NIC_A, NIC_B, MGMT = "0000:01:00.0", "0000:02:01.0", "0000:02:02.0", "0000:00:02.0"
NETDEVS = {NIC_A: ("ens1", "52:54:00:00:0c:10"), NIC_B: ("ens2", "52:54:00:00:0c:11")}
GROUP = 6
OWNER = {"controller": "t", "pid": 1, "since": "now"}


class GroupKernel(FakeKernel):
    """The fake kernel of the whole tree; each write checks the group's journal entry came first."""

    def __init__(self, root, fake, journal):
        super().__init__(fake, "e1000", NETDEVS, GROUP, before_write=self._journal_first)
        self.journal = journal

    def _journal_first(self, path):
        entry = self.journal.entry_for(NIC_A) if self.journal else None
        assert entry is not None and {m["address"] for m in entry["members"]} == {NIC_A, NIC_B}, \
            f"sysfs write {path} before the group's journal entry recorded both members"

    def record(self, address, path, value):
        self.writes.append((address, path.split("/")[-1], value))

    def order(self, step):
        """The devices, in order, that got `step` (driver_override / unbind / drivers_probe)."""
        return [address for address, what, _ in self.writes if what == step]


def shared_group_tree(root):
    fake = FakeSysfs(root)
    fake.add_pci("0000:00:00.0", device="29c0", class_code="0x060000", iommu_group=0)
    fake.add_pci(MGMT, vendor="1af4", device="1000", driver="virtio-pci", iommu_group=2)
    fake.add_pci("0000:00:10.0", device="0000", class_code="0x060400", driver="pcieport", iommu_group=5)
    fake.add_pci(BRIDGE, vendor="1b36", device="000e", class_code="0x060400", iommu_group=GROUP,
                 parent="0000:00:10.0")
    for address in (NIC_A, NIC_B):
        fake.add_pci(address, device="100e", driver="e1000", module="e1000", iommu_group=GROUP, parent=BRIDGE)
    fake.enable_iommu_class()
    for number in (0, 2, 5, GROUP):
        (root / f"sys/kernel/iommu_groups/{number}/type").write_text("DMA\n")
    (root / "sys/bus/pci/drivers/vfio-pci").mkdir(parents=True)
    fake.add_loopback()
    fake.add_netdev("enp0s2", pci=MGMT, virtio=0, mac="52:54:00:12:34:56")
    for address, (name, mac) in NETDEVS.items():
        fake.add_netdev(name, pci=address, mac=mac, operstate="down", carrier=None)
        (root / f"sys/class/net/{name}/flags").write_text("0x1002\n")
    fake.add_route("enp0s2", "0.0.0.0/0", gateway="10.0.2.2", metric=100)
    fake.add_route("enp0s2", "10.0.2.0/24", metric=100)
    return fake


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    root = tmp_path / "root"
    fake = shared_group_tree(root)
    journal = Journal(str(tmp_path / "journal"))
    kern = GroupKernel(root, fake, journal)
    monkeypatch.setattr(sysfs_write, "write", kern.write)
    monkeypatch.setattr(netstate, "run_ip", lambda *args: "")
    monkeypatch.setattr(netstate, "set_link", lambda name, up: None)
    monkeypatch.setattr(netstate, "read_addresses", lambda name: [])
    return kern


def plan(kernel, address=NIC_A, **checks):
    checks.setdefault("session_ip", "10.0.2.2")
    return safety.check_group(kernel.root, address, "vfio-pci", **checks)


def bind_group(kernel, **kw):
    return grouper.bind_group(kernel.root, plan(kernel), kernel.journal, OWNER, use_udev=False, timeout=2, **kw)


def drivers(kernel):
    return {a: state.driver(kernel.root, a) for a in (BRIDGE, NIC_A, NIC_B)}


def test_single_bind_in_a_shared_group_is_refused_offering_group(kernel):
    with pytest.raises(RefusedError) as refused:
        safety.check_bind(kernel.root, NIC_A, "vfio-pci", session_ip="10.0.2.2")
    message = str(refused.value)
    assert f"{NIC_B} on e1000" in message and "--group" in message and "nothing was touched" in message
    assert BRIDGE not in message  # a driverless bridge never blocks


def test_group_plan_covers_every_endpoint_and_leaves_the_bridge(kernel):
    found = plan(kernel, NIC_B)
    assert found.group == GROUP and found.endpoints == (NIC_A, NIC_B) and found.bridges == (BRIDGE,)
    assert found.requested == NIC_B and found.members == (BRIDGE, NIC_A, NIC_B)


def test_group_bind_moves_members_in_address_order_after_the_journal(kernel):
    result = bind_group(kernel)
    # GroupKernel.write asserted on every write that the entry with both members existed.
    assert kernel.order("driver_override") == [NIC_A, NIC_B]
    assert kernel.order("unbind") == [NIC_A, NIC_B] and kernel.order("drivers_probe") == [NIC_A, NIC_B]
    first_b = next(i for i, w in enumerate(kernel.writes) if w[0] == NIC_B)
    assert all(w[0] == NIC_A for w in kernel.writes[:first_b]), "member B started before A was bound"
    assert BRIDGE not in {w[0] for w in kernel.writes}
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "vfio-pci", NIC_B: "vfio-pci"}
    assert result["device_node"] == f"/dev/vfio/{GROUP}" and [m["address"] for m in result["members"]] == [NIC_A, NIC_B]
    entry = kernel.journal.read(NIC_A)
    assert entry["state"] == "bound" and entry["group"] == GROUP and entry["bridges"] == [BRIDGE]
    assert [(m["address"], m["driver"], m["net"]["netdev"], m["net"]["mac"], m["state"]) for m in entry["members"]] == [
        (NIC_A, "e1000", "ens1", "52:54:00:00:0c:10", "bound"), (NIC_B, "e1000", "ens2", "52:54:00:00:0c:11", "bound")]
    assert kernel.journal.addresses() == [NIC_A]  # one entry for the group


def test_group_restore_runs_in_reverse_order_and_brings_names_and_macs_back(kernel):
    bind_group(kernel)
    kernel.writes.clear()
    done = grouper.restore_group(kernel.root, kernel.journal.read(NIC_A), kernel.journal, use_udev=False, timeout=2)
    assert kernel.order("unbind") == [NIC_B, NIC_A] and kernel.order("drivers_probe") == [NIC_B, NIC_A]
    assert [(m["address"], m["driver"], m["netdev"], m["mac"]) for m in done["members"]] == [
        (NIC_B, "e1000", "ens2", "52:54:00:00:0c:11"), (NIC_A, "e1000", "ens1", "52:54:00:00:0c:10")]
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "e1000", NIC_B: "e1000"}
    assert {a: state.override(kernel.root, a) for a in (NIC_A, NIC_B)} == {NIC_A: None, NIC_B: None}
    assert kernel.journal.entries() == []


@pytest.mark.parametrize("spoil, expected", [
    ("active", r"0000:02:02.0 \(ens2\) is in use"),
    ("session", "carries the SSH session"),
    ("allow-list", "not in this host's allow-list"),
    ("not a NIC", "not a network controller"),
    ("already vfio", "already bound to vfio-pci"),
])
def test_one_bad_member_refuses_the_whole_group_with_nothing_touched(kernel, spoil, expected):
    checks = {}
    if spoil == "active":
        kernel.fake.add_route("ens2", "192.0.2.0/24")
    elif spoil == "session":
        kernel.fake.add_route("ens2", "10.9.0.0/16")
        checks["session_ip"] = "10.9.0.1"
    elif spoil == "allow-list":
        checks["allowed"] = [NIC_A]
    elif spoil == "not a NIC":
        (kernel.fake._device_dirs[NIC_B] / "class").write_text("0x040300\n")
    elif spoil == "already vfio":
        os.unlink(kernel.fake._device_dirs[NIC_B] / "driver")
        kernel.fake.bind(NIC_B, "vfio-pci")
    before = drivers(kernel)
    with pytest.raises(RefusedError, match=expected) as refused:
        plan(kernel, **checks)
    assert "cannot be bound as one unit because of 0000:02:02.0; nothing was touched" in str(refused.value)
    assert kernel.writes == [] and kernel.journal.entries() == [] and drivers(kernel) == before


def test_bridge_on_a_dma_driver_refuses_the_group(kernel):
    kernel.fake.bind(BRIDGE, "shpchp")
    with pytest.raises(RefusedError, match="bridge.*0000:01:00.0 on shpchp.*Nothing was touched"):
        plan(kernel)
    assert kernel.writes == []


def test_uio_and_groupless_devices_are_refused_for_group(kernel):
    with pytest.raises(RefusedError, match="uio_pci_generic knows no IOMMU groups"):
        safety.check_group(kernel.root, NIC_A, "uio_pci_generic", allow_uio=True)
    with pytest.raises(RefusedError, match="no IOMMU group"):
        os.unlink(kernel.fake._device_dirs[MGMT] / "iommu_group")
        safety.check_group(kernel.root, MGMT, "vfio-pci")


def test_second_member_failing_rolls_both_back_in_reverse(kernel):
    kernel.fail_probe_of = (NIC_B, "vfio-pci")
    with pytest.raises(BindError, match=r"IOMMU group 6 .* Invalid argument.*Rolled back every member"):
        bind_group(kernel)
    rollback = kernel.writes[kernel.writes.index((NIC_B, "drivers_probe", NIC_B)) + 1:]
    assert [a for a, what, _ in rollback if what == "drivers_probe"] == [NIC_B, NIC_A]
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "e1000", NIC_B: "e1000"}
    assert state.netdevs(kernel.root, NIC_A) == ["ens1"] and state.netdevs(kernel.root, NIC_B) == ["ens2"]
    assert kernel.journal.entries() == []


def test_failed_member_restore_keeps_the_group_entry(kernel):
    bind_group(kernel)
    kernel.fail_probe_of = (NIC_A, "e1000")
    with pytest.raises(BindError, match=r"1 member\(s\) not back: 0000:02:01.0.*entry is kept"):
        grouper.restore_group(kernel.root, kernel.journal.read(NIC_A), kernel.journal, use_udev=False, timeout=2)
    entry = kernel.journal.read(NIC_A)
    assert entry["state"] == "restore-failed"
    assert {m["address"]: m["state"] for m in entry["members"]} == {NIC_A: "bound", NIC_B: "restored"}
    kernel.fail_probe_of = None  # the cause is fixed: a second restore finishes the job
    grouper.restore_group(kernel.root, entry, kernel.journal, use_udev=False, timeout=2)
    assert drivers(kernel)[NIC_A] == "e1000" and kernel.journal.entries() == []


# --- through the agent's ops: locks, replay of a stale group entry ------------------

@pytest.fixture
def agent(tmp_path, kernel, monkeypatch):
    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("NICTEST_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("NICTEST_SYSFS_ROOT", str(kernel.root))
    return Agent(ops=dict(agent_ops.OPS), session_ip="10.0.2.2")


def test_group_bind_op_holds_every_member_and_any_member_restores_all(tmp_path, agent, kernel):
    result = binding_ops.bind(agent, NIC_B, "vfio-pci", group=True)
    assert result["group"] == GROUP and drivers(kernel)[NIC_A] == drivers(kernel)[NIC_B] == "vfio-pci"
    locks = Locks(str(tmp_path / "locks"))
    assert not any(locks.is_free(a) for a in (BRIDGE, NIC_A, NIC_B))
    assert [e["address"] for e in binding_ops.journal(agent)["held"]] == [NIC_A]
    with pytest.raises(DeviceHeld):  # another agent's single bind of a member
        locks.acquire(NIC_B, {"controller": "other"})
    with pytest.raises(RefusedError, match="already bound"):
        binding_ops.bind(agent, NIC_A, "vfio-pci")
    done = binding_ops.restore(agent, NIC_B)  # any member brings the whole group back
    assert done["restored"] and {m["address"] for m in done["members"]} == {NIC_A, NIC_B}
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "e1000", NIC_B: "e1000"}
    assert all(locks.is_free(a) for a in (BRIDGE, NIC_A, NIC_B)) and kernel.journal.entries() == []


def test_group_bind_refused_while_another_agent_holds_one_member(tmp_path, agent, kernel):
    other = Locks(str(tmp_path / "locks")).acquire(NIC_B, {"controller": "ctl-A", "pid": 7, "since": "t"})
    try:
        with pytest.raises(DeviceHeld, match="held by ctl-A"):
            binding_ops.bind(agent, NIC_A, "vfio-pci", group=True)
        assert Locks(str(tmp_path / "locks")).is_free(NIC_A)  # the lock taken before it was let go
        assert kernel.writes == [] and kernel.journal.entries() == []
    finally:
        other.release()


def test_persistent_group_entry_refuses_a_member_bind_naming_the_group(agent, kernel):
    binding_ops.bind(agent, NIC_A, "vfio-pci", group=True, persistent=True)
    with pytest.raises(RefusedError, match=r"persistent IOMMU group 6 entry.*nictest restore --host <host> 0000:02:01.0"):
        binding_ops.bind(agent, NIC_B, "vfio-pci", group=True)
    assert binding_ops.journal(agent)["persistent"][0]["members"][1]["address"] == NIC_B
    binding_ops.restore(agent, NIC_B)
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "e1000", NIC_B: "e1000"}


def test_stale_group_entry_after_a_crash_mid_bind_is_replayed(agent, kernel):
    """The agent died after the first member moved: one member on vfio-pci, one on e1000, the
    entry still `binding`. The next session's restore_all gives both back."""
    entry = grouper.group_entry(kernel.root, plan(kernel), OWNER, persistent=False)
    kernel.journal.write(entry)
    kernel.write(kernel.root, f"sys/bus/pci/devices/{NIC_A}/driver_override", "vfio-pci")
    kernel.write(kernel.root, "sys/bus/pci/drivers/e1000/unbind", NIC_A)
    kernel.write(kernel.root, "sys/bus/pci/drivers_probe", NIC_A)
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "vfio-pci", NIC_B: "e1000"}
    assert [e["address"] for e in binding_ops.stale(agent)] == [NIC_A]
    kernel.writes.clear()
    replayed = binding_ops.restore_all(agent, stale_only=True)
    assert [r["address"] for r in replayed] == [NIC_A] and replayed[0]["was"] == "stale"
    assert [m["address"] for m in replayed[0]["members"]] == [NIC_B, NIC_A]  # reverse order
    assert drivers(kernel) == {BRIDGE: None, NIC_A: "e1000", NIC_B: "e1000"}
    assert state.netdevs(kernel.root, NIC_A) == ["ens1"] and state.netdevs(kernel.root, NIC_B) == ["ens2"]
    assert kernel.order("unbind") == [NIC_A]  # B never left e1000: nothing to undo there
    assert kernel.journal.entries() == []
