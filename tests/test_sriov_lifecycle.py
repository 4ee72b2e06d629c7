"""SR-IOV VFs created and removed against a fake kernel: journal first, refusals touch nothing,
every way of undoing a bind undoes VFs too (restore, restore_all, the dead man's switch).

The tree is shaped like the igb lab: an 82576 PF at 01:00.0 behind a root port, sriov_totalvfs 7,
First VF Offset 128 and VF Stride 2 (so VFs at 01:10.0, 01:10.2, ... as the lab guest shows).
"""
from __future__ import annotations

import pytest

from fakesysfs import FakeKernel, FakeSysfs
from nictest.agent import binding_ops, sriov_ops
from nictest.agent import ops as agent_ops
from nictest.agent.server import Agent
from nictest.binding import netstate, sriov, state, sysfs_write
from nictest.binding.journal import Journal
from nictest.errors import BindError, RefusedError
from nictest.pci.sriov import read_sriov, vf_addresses

PORT, PF, PF2, MGMT = "0000:00:1c.0", "0000:01:00.0", "0000:02:00.0", "0000:00:02.0"
MAC = "52:54:00:00:0a:10"
OWNER = {"controller": "t", "pid": 1, "since": "now"}


class SriovKernel(FakeKernel):
    """Every sriov_numvfs write must come after the PF's sriov journal entry."""

    def __init__(self, fake, journal):
        super().__init__(fake, "igbvf", {PF: ("enp1s0", MAC)}, 9, before_write=self._journal_first)
        self.journal = journal
        self.vf_setup[PF] = ("igbvf", 9, None)
        self.kernel_drivers[PF] = "igb"

    def write(self, root, path, value):
        """vfio-pci as the PF's driver: sriov_configure only with enable_sriov, and its VFs
        get driver_override vfio-pci (so autoprobe binds them to it)."""
        if path == sriov.ENABLE_SRIOV:
            self.record("vfio_pci", path, value)
            (self.root / path).write_text(value + "\n")
            return
        if path.endswith("sriov_numvfs") and state.driver(self.root, PF) == "vfio-pci":
            if (self.root / sriov.ENABLE_SRIOV).read_text().strip() != "Y":
                raise OSError(2, "No such file or directory")
            self.vf_setup[PF] = ("vfio-pci", 9, None)
            super().write(root, path, value)
            self.vf_setup[PF] = ("igbvf", 9, None)
            return
        super().write(root, path, value)

    def _journal_first(self, path):
        if path.endswith("sriov_numvfs"):
            entry = self.journal.read(PF)
            assert entry is not None and entry.get("kind") == "sriov" and entry["vfs"], \
                f"{path} written before the PF's journal entry recorded its VFs"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    root = tmp_path / "root"
    fake = FakeSysfs(root)
    fake.add_pci(MGMT, vendor="1af4", device="1000", driver="virtio-pci", iommu_group=2)
    fake.add_netdev("enp0s2", pci=MGMT, mac="52:54:00:12:34:56", virtio=0)
    fake.add_route("enp0s2", "0.0.0.0/0", gateway="10.0.2.2", metric=100)
    fake.add_pci(PORT, class_code="0x060400", driver="pcieport", iommu_group=7)
    fake.add_pci(PF, device="10c9", driver="igb", module="igb", iommu_group=8, parent=PORT)
    fake.add_sriov(PF, total_vfs=7, offset=128, stride=2, vf_device="10ca")
    fake.add_netdev("enp1s0", pci=PF, mac=MAC, operstate="down", carrier=None)
    (root / "sys/class/net/enp1s0/flags").write_text("0x1002\n")
    fake.add_pci(PF2, device="10d3", driver="e1000e", iommu_group=10)  # a NIC without SR-IOV
    fake.enable_iommu_class()
    (root / "sys/bus/pci/drivers/vfio-pci").mkdir()
    (root / "sys/module/vfio_pci").mkdir(parents=True)
    journal = Journal(str(tmp_path / "journal"))
    kern = SriovKernel(fake, journal)
    monkeypatch.setattr(sysfs_write, "write", kern.write)
    monkeypatch.setattr(netstate, "run_ip", lambda *args: "")
    monkeypatch.setattr(netstate, "read_addresses", lambda name: [])
    return kern


def numvfs_writes(kernel):
    return [value for _, path, value in kernel.writes if path.endswith("sriov_numvfs")]


def test_vf_addresses_follow_offset_and_stride_across_a_bus():
    # The igb lab guest: PF 01:00.0, offset 128, stride 2 -> 01:10.0 and 01:10.2 (seen in sysfs there).
    assert vf_addresses(PF, 128, 2, 2) == ["0000:01:10.0", "0000:01:10.2"]
    # Routing IDs past devfn 0xff continue on the next bus number.
    assert vf_addresses("0000:3b:00.1", 0x7f, 1, 2) == ["0000:3b:10.0", "0000:3b:10.1"]
    assert vf_addresses("0001:05:1f.7", 1, 1, 1) == ["0001:06:00.0"]


def test_create_journals_first_then_remove_puts_the_pf_back(kernel):
    plan = sriov.check_create(kernel.root, PF, 2, session_ip="10.0.2.2")
    result = sriov.create(kernel.root, plan, kernel.journal, OWNER, use_udev=False, timeout=2)
    # SriovKernel asserted that the entry existed before the write.
    assert numvfs_writes(kernel) == ["2"]
    assert [v["address"] for v in result["vfs"]] == ["0000:01:10.0", "0000:01:10.2"]
    assert [(v["driver"], v["iommu_group"]) for v in result["vfs"]] == [("igbvf", "9"), ("igbvf", "10")]
    entry = kernel.journal.read(PF)
    assert entry["kind"] == "sriov" and entry["state"] == "created" and entry["num_vfs_was"] == 0
    assert entry["vfs"] == ["0000:01:10.0", "0000:01:10.2"] and entry["net"]["mac"] == MAC

    done = sriov.remove(kernel.root, entry, kernel.journal, use_udev=False, timeout=2)
    assert numvfs_writes(kernel) == ["2", "0"] and done["num_vfs"] == 0
    assert read_sriov(kernel.root, PF).vfs == () and read_sriov(kernel.root, PF).num_vfs == 0
    assert state.driver(kernel.root, PF) == "igb" and kernel.journal.entries() == []


@pytest.mark.parametrize("address, num_vfs, match", [
    (PF2, 1, "has no SR-IOV capability"),
    (PF, 8, "offers 1 to 7"),
    (PF, 0, "offers 1 to 7"),
    (MGMT, 1, "carries the SSH session"),
])
def test_refusals_touch_nothing(kernel, address, num_vfs, match):
    with pytest.raises(RefusedError, match=match):
        sriov.check_create(kernel.root, address, num_vfs, session_ip="10.0.2.2")
    assert kernel.writes == [] and kernel.journal.entries() == []


def test_vfs_made_elsewhere_are_refused(kernel):
    kernel.fake.add_vf(PF, 0, "0000:01:10.0", "10ca", "igbvf", 9)
    (kernel.fake._device_dirs[PF] / "sriov_numvfs").write_text("1\n")
    with pytest.raises(RefusedError, match=r"already has 1 VF\(s\) \(0000:01:10.0\).*echo 0 >"):
        sriov.check_create(kernel.root, PF, 2, session_ip="10.0.2.2")
    assert kernel.writes == []


def test_vfs_at_unexpected_addresses_roll_back(kernel):
    kernel.vf_setup[PF] = ("igbvf", 9, ["0000:01:11.0", "0000:01:11.2"])  # not where offset/stride say
    plan = sriov.check_create(kernel.root, PF, 2, session_ip="10.0.2.2")
    with pytest.raises(BindError, match=r"VFs are at 0000:01:11.0, 0000:01:11.2, expected 0000:01:10.0.*Rolled back"):
        sriov.create(kernel.root, plan, kernel.journal, OWNER, use_udev=False, timeout=2)
    assert numvfs_writes(kernel) == ["2", "0"] and read_sriov(kernel.root, PF).num_vfs == 0
    assert kernel.journal.entries() == []


def test_remove_after_a_crash_before_the_write_writes_nothing(kernel):
    plan = sriov.check_create(kernel.root, PF, 2, session_ip="10.0.2.2")
    entry = dict(address=PF, kind="sriov", driver="igb", num_vfs_was=0, num_vfs=2, vfs=plan.vf_addresses,
                 net=netstate.snapshot(kernel.root, "enp1s0"), owner=OWNER, state="creating")
    kernel.journal.write(entry)  # the agent died here: journalled, sriov_numvfs still 0
    sriov.remove(kernel.root, kernel.journal.read(PF), kernel.journal, use_udev=False, timeout=2)
    assert numvfs_writes(kernel) == [] and kernel.journal.entries() == []


@pytest.fixture
def agent(tmp_path, kernel, monkeypatch):
    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("NICTEST_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("NICTEST_SYSFS_ROOT", str(kernel.root))
    made = Agent(ops=dict(agent_ops.OPS), session_ip="10.0.2.2")
    binding_ops.session(made, allowed=[PF, PF2])
    return made


def test_a_vf_of_an_allowed_pf_binds_and_the_dead_mans_switch_undoes_both(agent, kernel):
    sriov_ops.vf_create(agent, PF, 2)
    vf0, vf1 = read_sriov(kernel.root, PF).vfs
    binding_ops.bind(agent, vf0, "vfio-pci")  # not in `nics`, but its PF is
    assert state.driver(kernel.root, vf0) == "vfio-pci"
    with pytest.raises(RefusedError, match=r"has 2 VF\(s\) created by this session.*nictest vf remove"):
        binding_ops.bind(agent, PF, "vfio-pci")
    binding_ops.state(agent).dead_mans_switch()  # the controller is gone
    assert read_sriov(kernel.root, PF).num_vfs == 0 and read_sriov(kernel.root, PF).vfs == ()
    # The VF went back to igbvf (its restore's re-probe) before the VFs were disabled.
    probes = [i for i, (address, path, _) in enumerate(kernel.writes) if address == vf0 and path.endswith("drivers_probe")]
    disabled = kernel.writes.index((PF, f"sys/bus/pci/devices/{PF}/sriov_numvfs", "0"))
    assert len(probes) == 2 and probes[1] < disabled  # bind's probe (vfio-pci), restore's (igbvf)
    assert kernel.journal.entries() == [] and binding_ops.state(agent).held == {}


def test_a_device_neither_allowed_nor_a_vf_of_an_allowed_pf_is_refused(agent, kernel):
    binding_ops.session(agent, allowed=[PF2])
    with pytest.raises(RefusedError, match="not in this host's allow-list"):
        sriov_ops.vf_create(agent, PF, 1)
    assert kernel.writes == []


def test_vf_list_shows_vfs_under_their_pf_and_who_made_them(agent, kernel):
    sriov_ops.vf_create(agent, PF, 2, persistent=True)
    listed = sriov_ops.vf_list(agent)["pfs"]
    assert [(p["pf"], p["num_vfs"], p["total_vfs"], p["created_by_nictest"], p["kind"]) for p in listed] == [
        (PF, 2, 7, True, "persistent")]
    assert [(v["address"], v["device"], v["driver"]) for v in listed[0]["vfs"]] == [
        ("0000:01:10.0", "10ca", "igbvf"), ("0000:01:10.2", "10ca", "igbvf")]
    replayed = binding_ops.restore_all(agent, stale_only=False)
    assert [r["address"] for r in replayed] == [PF] and read_sriov(kernel.root, PF).num_vfs == 0


def _enable_sriov(kernel) -> str:
    return (kernel.root / sriov.ENABLE_SRIOV).read_text().strip()


def test_vfs_of_a_pf_this_session_bound_to_vfio_pci_come_from_vfio_pci(agent, kernel):
    (kernel.root / "sys/module/vfio_pci/parameters").mkdir(parents=True)
    (kernel.root / sriov.ENABLE_SRIOV).write_text("N\n")
    kernel.iommu_group = 8  # the PF's: its vfio-pci probe makes /dev/vfio/8
    binding_ops.bind(agent, PF, "vfio-pci")
    bind_entry = kernel.journal.read(PF)
    made = sriov_ops.vf_create(agent, PF, 1)
    assert [(v["address"], v["driver"]) for v in made["vfs"]] == [("0000:01:10.0", "vfio-pci")]
    entry = kernel.journal.read(PF)
    assert entry["kind"] == "sriov" and entry["pf_bind"] == bind_entry and entry["enable_sriov_was"] == "N"
    # enable_sriov on before sriov_numvfs (vfio-pci refuses without it), back to N after 0.
    order = [(path.split("/")[-1], value) for _, path, value in kernel.writes
             if path.endswith(("sriov_numvfs", "enable_sriov"))]
    assert order == [("enable_sriov", "Y"), ("sriov_numvfs", "1")]
    # vf_remove: the PF as before vf_create, on vfio-pci, held, its bind entry back.
    sriov_ops.vf_remove(agent, PF)
    assert read_sriov(kernel.root, PF).vfs == () and _enable_sriov(kernel) == "N"
    assert state.driver(kernel.root, PF) == "vfio-pci" and kernel.journal.read(PF) == bind_entry
    assert PF in binding_ops.state(agent).held
    # Again, and the controller goes: VFs gone, enable_sriov back, the PF on igb with its netdev.
    sriov_ops.vf_create(agent, PF, 1)
    binding_ops.state(agent).dead_mans_switch()
    assert read_sriov(kernel.root, PF).num_vfs == 0 and _enable_sriov(kernel) == "N"
    assert state.driver(kernel.root, PF) == "igb" and state.netdevs(kernel.root, PF) == ["enp1s0"]
    assert kernel.journal.entries() == [] and binding_ops.state(agent).held == {}


def test_a_pf_on_vfio_pci_not_bound_by_this_session_is_refused(agent, kernel):
    (kernel.root / "sys/module/vfio_pci/parameters").mkdir(parents=True)
    (kernel.root / sriov.ENABLE_SRIOV).write_text("N\n")
    (kernel.fake._device_dirs[PF] / "driver").unlink()
    (kernel.root / "sys/bus/pci/drivers/igb" / PF).unlink()
    kernel.fake.bind(PF, "vfio-pci")  # bound by someone else: no journal entry
    with pytest.raises(RefusedError, match="when this session bound it there"):
        sriov_ops.vf_create(agent, PF, 1)
    assert kernel.writes == [] and kernel.journal.entries() == []


def test_enable_sriov_stays_on_while_another_pf_on_vfio_pci_has_vfs(agent, kernel):
    (kernel.root / "sys/module/vfio_pci/parameters").mkdir(parents=True)
    (kernel.root / sriov.ENABLE_SRIOV).write_text("N\n")
    kernel.iommu_group = 8
    binding_ops.bind(agent, PF, "vfio-pci")
    sriov_ops.vf_create(agent, PF, 1)
    # Another session's PF on vfio-pci enabled VFs meanwhile (enable_sriov is the host's).
    kernel.fake.add_sriov(PF2, total_vfs=2, offset=1, stride=1, vf_device="10ca")
    (kernel.fake._device_dirs[PF2] / "driver").unlink()
    (kernel.root / "sys/bus/pci/drivers/e1000e" / PF2).unlink()
    kernel.fake.bind(PF2, "vfio-pci")
    (kernel.fake._device_dirs[PF2] / "sriov_numvfs").write_text("1\n")
    done = sriov_ops.vf_remove(agent, PF)
    assert _enable_sriov(kernel) == "Y" and f"enable_sriov left on for {PF2}" in done["steps"]
    assert read_sriov(kernel.root, PF).vfs == () and kernel.journal.read(PF)["target"] == "vfio-pci"
