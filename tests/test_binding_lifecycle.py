"""bind/restore against a fake kernel on a synthetic tree: order of steps, rollback, verification."""
from __future__ import annotations

import os
import shutil

import pytest

from fakesysfs import FakeKernel, FakeSysfs
from nictest.binding import bind as binder
from nictest.binding import netstate, restore as restorer, safety, state, sysfs_write
from nictest.binding.journal import Journal
from nictest.errors import BindError

NIC = "0000:00:03.0"
MAC = "52:54:00:00:00:03"


class LifecycleKernel(FakeKernel):
    """The fake kernel of one NIC, with `ip` faked too; each write checks the journal entry came first."""

    def __init__(self, fake, journal):
        super().__init__(fake, "e1000e", {NIC: ("enp0s3", MAC)}, 3, before_write=self._journal_first)
        self.journal, self.ip_calls = journal, []

    def _journal_first(self, path):
        assert self.journal.read(NIC) is not None, "a sysfs write happened before the journal entry"

    def record(self, address, path, value):
        self.writes.append((path, value))

    def run_ip(self, *args):
        self.ip_calls.append(args)
        return "[]" if args[:2] == ("-j", "addr") else ""

    def set_link(self, name, up):
        self.ip_calls.append(("link", "set", "dev", name, "up" if up else "down"))
        (self.root / "sys/class/net" / name / "flags").write_text("0x1003\n" if up else "0x1002\n")

    def read_addresses(self, name):
        return []


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    root = tmp_path / "root"
    fake = FakeSysfs(root)
    fake.add_pci(NIC, driver="e1000e", module="e1000e", iommu_group=3)
    fake.enable_iommu_class()
    (root / "sys/bus/pci/drivers/vfio-pci").mkdir()
    fake.add_netdev("enp0s3", pci=NIC, mac=MAC, operstate="down", carrier=None)
    (root / "sys/class/net/enp0s3/flags").write_text("0x1002\n")
    journal = Journal(str(tmp_path / "journal"))
    kern = LifecycleKernel(fake, journal)
    monkeypatch.setattr(sysfs_write, "write", kern.write)
    monkeypatch.setattr(netstate, "run_ip", kern.run_ip)
    monkeypatch.setattr(netstate, "set_link", kern.set_link)
    monkeypatch.setattr(netstate, "read_addresses", kern.read_addresses)
    return kern


def do_bind(kernel, driver="vfio-pci"):
    plan = safety.check_bind(kernel.root, NIC, driver)
    return binder.bind(kernel.root, plan, kernel.journal, {"controller": "t", "pid": 1, "since": "now"},
                       use_udev=False, timeout=2)


def test_bind_then_restore(kernel):
    result = do_bind(kernel)
    assert result["driver"] == "vfio-pci" and result["device_node"] == "/dev/vfio/3" and result["seconds"] >= 0
    assert [p for p, _ in kernel.writes] == ["sys/bus/pci/devices/0000:00:03.0/driver_override",
                                             "sys/bus/pci/drivers/e1000e/unbind", "sys/bus/pci/drivers_probe"]
    entry = kernel.journal.read(NIC)
    assert entry["state"] == "bound" and entry["driver"] == "e1000e" and entry["net"]["mac"] == MAC
    assert state.netdevs(kernel.root, NIC) == []

    done = restorer.restore(kernel.root, entry, kernel.journal, use_udev=False, timeout=2)
    assert done["driver"] == "e1000e" and done["netdev"] == "enp0s3" and done["restore_seconds"] >= 0
    assert kernel.writes[3:] == [("sys/bus/pci/drivers/vfio-pci/unbind", NIC),
                                 ("sys/bus/pci/devices/0000:00:03.0/driver_override", "\n"),
                                 ("sys/bus/pci/drivers_probe", NIC)]
    assert state.driver(kernel.root, NIC) == "e1000e" and state.override(kernel.root, NIC) is None
    assert kernel.journal.read(NIC) is None
    # each step is timed for `nictest bench`, and the phases account for the whole
    assert set(result["phases"]) == {"journal", "udev_monitor", "unbind", "probe", "verify"}
    assert set(done["phases"]) == {"udev_monitor", "unbind", "probe", "netdev", "put_back", "verify", "journal"}
    for timed, total in ((result["phases"], result["seconds"]), (done["phases"], done["restore_seconds"])):
        assert all(s >= 0 for s in timed.values()) and sum(timed.values()) <= total + 0.005


def test_failed_probe_rolls_back_to_the_kernel_driver(kernel):
    kernel.fail_probe_of = (NIC, "vfio-pci")  # the lab2 trap, had safety not caught it
    with pytest.raises(BindError) as failed:
        do_bind(kernel)
    message = str(failed.value)
    assert "Invalid argument" in message and "Rolled back" in message and "driver e1000e" in message
    assert state.driver(kernel.root, NIC) == "e1000e" and state.override(kernel.root, NIC) is None
    assert state.netdevs(kernel.root, NIC) == ["enp0s3"]
    assert kernel.journal.read(NIC) is None


def test_unverified_restore_keeps_the_journal_entry(kernel):
    do_bind(kernel)
    kernel.netdevs[NIC] = ("enp0s3", "52:54:00:99:99:99")  # and `ip link set address` (faked) changes nothing
    with pytest.raises(BindError, match=r"MAC is 52:54:00:99:99:99, expected 52:54:00:00:00:03.*journal entry is kept"):
        restorer.restore(kernel.root, kernel.journal.read(NIC), kernel.journal, use_udev=False, timeout=2)
    assert ("link", "set", "dev", "enp0s3", "address", MAC) in kernel.ip_calls
    assert kernel.journal.read(NIC)["state"] == "restore-failed"


def test_restore_is_idempotent_after_a_crash_before_any_write(kernel):
    plan = safety.check_bind(kernel.root, NIC, "vfio-pci")
    entry = binder.journal_entry(kernel.root, plan, {"controller": "t"}, persistent=False)
    kernel.journal.write(entry)  # the agent died right after journaling
    restorer.restore(kernel.root, entry, kernel.journal, use_udev=False, timeout=2)
    assert kernel.writes == [("sys/bus/pci/devices/0000:00:03.0/driver_override", "\n")]
    assert kernel.journal.read(NIC) is None


def test_put_back_accepts_udevs_own_rename_to_the_saved_name(tmp_path, monkeypatch):
    """udev renamed eth0 -> enp0s3 between our read and our rename: nothing left to do."""
    from nictest.errors import BindError
    (tmp_path / "sys/class/net/enp0s3").mkdir(parents=True)
    (tmp_path / "sys/class/net/enp0s3/ifindex").write_text("3\n")
    ifindex_before = {"eth0": "3\n"}
    real_read_int = netstate.read_int
    monkeypatch.setattr(netstate, "read_int", lambda path: int(ifindex_before["eth0"]) if str(path).endswith(
        "net/eth0/ifindex") else real_read_int(path))

    def gone(*args):
        raise BindError("`ip link set dev eth0 name enp0s3` failed (1): Cannot find device \"eth0\"")

    monkeypatch.setattr(netstate, "set_link", lambda name, up: None)
    monkeypatch.setattr(netstate, "run_ip", gone)
    monkeypatch.setattr(netstate, "addresses", lambda name: [])
    assert netstate.put_back(tmp_path, "eth0", {"netdev": "enp0s3"}) == []
    # Still an error when the saved name belongs to another netdev: then the rename really failed.
    (tmp_path / "sys/class/net/enp0s3/ifindex").write_text("7\n")
    with pytest.raises(BindError):
        netstate.put_back(tmp_path, "eth0", {"netdev": "enp0s3"})


def test_restore_of_a_removed_device_closes_its_entry_as_gone(kernel):
    do_bind(kernel)
    writes = len(kernel.writes)
    # hot-unplugged while bound: the kernel drops the device and its sysfs links
    os.unlink(kernel.root / "sys/bus/pci/drivers/vfio-pci" / NIC)
    os.unlink(kernel.root / "sys/bus/pci/devices" / NIC)
    shutil.rmtree(kernel.fake._device_dirs[NIC])  # FakeSysfs keeps each device's real directory
    done = restorer.restore(kernel.root, kernel.journal.read(NIC), kernel.journal, use_udev=False, timeout=2)
    assert done["gone"] is True and done["restored"] is False and done["reason"] == "device gone"
    assert kernel.journal.read(NIC) is None, "the entry of a device that is gone must be closed"
    assert len(kernel.writes) == writes, "restore wrote to sysfs for a device that is gone"
