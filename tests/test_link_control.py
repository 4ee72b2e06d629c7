"""Hosts say whether they can drive a NIC's link from outside (the link feature suite):
a real host cannot (and set_link says why), a QEMU lab host can for its own NICs only and
names the cable's netdev in the monitor command."""
from __future__ import annotations

import pytest

from nictest import errors
from nictest.hosts.local import LocalHost
from nictest.hosts.qemu import QemuLabHost
from nictest.inventory import HostSpec


def test_a_real_host_cannot_drive_links_and_says_so():
    host = LocalHost(HostSpec(name="local", kind="local", nics=()))
    reason = host.link_control_reason("0000:01:00.0")
    assert "cannot drive links from outside" in reason and "0000:01:00.0" in reason
    with pytest.raises(errors.PrerequisiteMissing, match="cannot drive links from outside"):
        host.set_link("0000:01:00.0", False)


def test_a_lab_host_drives_its_own_nics_through_the_monitor(monkeypatch):
    host = QemuLabHost(HostSpec(name="lab-igb", kind="qemu", lab="lab-igb"))
    sent = []
    monkeypatch.setattr(host.vm, "running", lambda: True)
    monkeypatch.setattr(host.vm, "monitor", lambda cmd: sent.append(cmd) or "(qemu) ")
    first, second = host.vm.profile.nic_addresses
    assert host.link_control_reason(first) is None
    assert "not a NIC of lab lab-igb" in host.link_control_reason("0000:09:00.0")
    host.set_link(second, False)
    host.set_link(second, True)
    assert sent == ["set_link p1 off", "set_link p1 on"]
    with pytest.raises(errors.PrerequisiteMissing, match="not a NIC of lab"):
        host.set_link("0000:09:00.0", True)
