"""SR-IOV VF token: with the PF itself on vfio-pci, its VFs open only for a user that
presents the PF's VF token — for every NIC whose profile claims 'sriov'.

The PF's user sets a UUID on the PF's VFIO device (VFIO_DEVICE_FEATURE PCI_VF_TOKEN);
vfio-pci (its module parameter enable_sriov on) creates the VFs; a VF's VFIO device
then opens only as "<address> vf_token=<that UUID>": no token and another UUID are
refused with EACCES (the kernel's own vfio_pci_sriov_uapi_test checks the same). At
the end the VFs are gone, enable_sriov is as it was and the PF is back on its kernel
driver with its netdev, MAC and MTU.
"""
from __future__ import annotations

import errno
import uuid

import allure
import pytest

from fixtures.nics import device, require_driver
from fixtures.pmd import ensure_built
from fixtures.sriov import PF_FIELDS, sriov_of
from nictest.errors import PmdError

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.nic_feature("sriov")]

VFIO = "vfio-pci"


def _refused(host, vf: str, token: str) -> PmdError:
    with pytest.raises(PmdError) as info:
        handle = host.call("pmd_device_open", address=vf, vf_token=token)["device_handle"]
        host.call("pmd_device_close", device=handle)
    return info.value


def test_a_vf_of_a_pf_on_vfio_pci_opens_only_with_the_pfs_vf_token(host, nic, sriov_pf, request):
    require_driver(host, VFIO, request.config)
    ensure_built(host)  # before the PF leaves its driver: a compile inside a short call would time out
    pf = nic["address"]
    before = {f: nic.get(f) for f in PF_FIELDS}
    token, wrong = str(uuid.uuid4()), str(uuid.uuid4())
    param_was = None
    try:
        with allure.step(f"PF {pf} -> vfio-pci, opened, VF token set"):
            host.call("bind", address=pf, driver=VFIO)
            param_was = host.call("vf_list", address=pf)["vfio_pci_enable_sriov"]  # vfio-pci is loaded now
            pf_dev = host.call("pmd_device_open", address=pf)["device_handle"]
            host.call("pmd_device_set_vf_token", device=pf_dev, token=token)
        with allure.step(f"{pf}: 1 VF created by vfio-pci"):
            made = host.call("vf_create", address=pf, num_vfs=1)["vfs"]
            assert len(made) == 1, f"{pf}: asked vfio-pci for 1 VF, got {made}"
            vf = made[0]["address"]
            if device(host, vf)["driver"] != VFIO:  # sriov_drivers_autoprobe off: driverless
                host.call("bind", address=vf, driver=VFIO)
            assert device(host, vf)["driver"] == VFIO, f"VF {vf} is on {device(host, vf)['driver']}"
        with allure.step(f"VF {vf}: no token and a wrong token refused"):
            missing = _refused(host, vf, "")
            assert missing.errno == errno.EACCES, f"VF {vf} opened without a token: {missing}"
            other = _refused(host, vf, wrong)
            assert other.errno == errno.EACCES, f"VF {vf} with a token not its PF's: {other}"
        with allure.step(f"VF {vf}: opened with the PF's token"):
            opened = host.call("pmd_device_open", address=vf, vf_token=token)
            host.call("pmd_device_close", device=opened["device_handle"])
            assert (opened["vendor"], opened["address"]) == (nic["vendor"], vf), opened
            assert opened["bar"] is not None and opened["bar"] >= 0, f"VF {vf} opened without a mapped BAR: {opened}"
    finally:
        with allure.step(f"{pf}: VFs removed, the PF back on {before['driver']}"):
            host.call("restore", address=pf)
    after = sriov_of(host, pf)
    now = device(host, pf)
    problems = [f"{f} {now.get(f)!r}, was {before[f]!r}" for f in PF_FIELDS if now.get(f) != before[f]]
    if after.get("num_vfs") or after.get("vfs"):
        problems.append(f"sriov_numvfs {after.get('num_vfs')} with VFs {after.get('vfs')}")
    param = host.call("vf_list", address=pf)["vfio_pci_enable_sriov"]
    if param != param_was:
        problems.append(f"vfio-pci enable_sriov is {param}, was {param_was}")
    assert not problems, f"{pf} after the VF-token test: " + "; ".join(problems)
