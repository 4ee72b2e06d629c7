"""The bundled lab hosts, live: what `nictest status` must report on lab1 and lab2.

Needs `--host lab1` / `--host lab2` (pytest boots them); in CI a missing lab fails.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nictest import hosts, lab

pytestmark = pytest.mark.lab

NICS_UNDER_TEST = {"0000:00:03.0": 3, "0000:00:04.0": 4}  # address -> IOMMU group on lab1


def lab_profile(host):
    if host.spec.kind != "qemu":
        pytest.skip(f"{host.name} is not a bundled lab: lab-specific expectations do not apply")
    return lab.profile(host.spec.lab)


def test_status_json_lists_the_lab_nics(host):
    profile = lab_profile(host)
    result = subprocess.run([sys.executable, "-m", "nictest.cli", "status", "--host", host.name, "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    devices = {d["address"]: d for d in json.loads(result.stdout)}
    for (address, group), mac in zip(NICS_UNDER_TEST.items(), profile.nic_macs):
        nic = devices[address]
        assert (nic["vendor"], nic["device"], nic["driver"]) == ("8086", "10d3", "e1000e")
        assert nic["netdev"] == f"enp0s{address[9]}" and nic["mac"] == mac
        assert nic["iommu_group"] == (group if profile.iommu else None)
        assert nic["iommu_group_members"] == [] and nic["active"] is False
    mgmt = devices["0000:00:02.0"]
    assert mgmt["driver"] == "virtio-pci" and mgmt["active"] is True


def test_agent_reports_the_hosts_iommu(host):
    assert host.info["iommu"] is lab_profile(host).iommu
    assert host.info["uid"] == 0 and host.info["missing"] == []


def test_a_second_connection_does_not_upload_the_agent_again(host):
    lab_profile(host)
    first = hosts.connect(host.spec)
    first.close()
    second = hosts.connect(host.spec)
    try:
        assert second.uploads == 0
        assert second.call("ping") == {"pong": True}
    finally:
        second.close()
