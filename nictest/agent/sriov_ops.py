"""Agent ops for SR-IOV: vf_create, vf_remove, vf_list.

vf_create holds the PF's lock and writes the PF's "sriov" journal entry before
sriov_numvfs changes; the VFs are then bound like any NIC (the `bind` op: a VF of
an allowed PF is allowed). Every way a bind is undone undoes VFs too: `restore`
of the PF, restore_all, the dead man's switch and the lease restore the VFs'
own bind entries first and then put sriov_numvfs back (BindingState.restore_held
dispatches to remove_all below); a PF this session had bound to vfio-pci (the
VF-token case) then goes back to its kernel driver too. vf_remove leaves such a
PF on vfio-pci, held: as it was before vf_create.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict

from nictest.agent import binding_ops
from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.binding import restore as restorer
from nictest.binding import sriov
from nictest.binding.journal import is_group
from nictest.errors import RefusedError
from nictest.pci import PciAddress
from nictest.pci.discovery import pci_addresses, read_devices
from nictest.pci.sriov import physfn, read_sriov

log = logging.getLogger("nictest.binding")


def remove_vfs(st: "binding_ops.BindingState", entry: Dict[str, Any]) -> Dict[str, Any]:
    """Restore each VF's bind entry (taking its lock), then disable the VFs: the PF as it was."""
    restored = []
    for vf_entry in sriov.vf_entries(st.journal, entry):
        vf = vf_entry["address"]
        if not os.path.isdir(os.path.join(st.root, "sys/bus/pci/devices", vf)):
            # Gone with its PF's VFs (a host reset, the PF's driver reloaded): nothing left to give back.
            log.warning("VF %s of %s is gone: closing its journal entry", vf, entry["address"])
            st.journal.remove(vf)
            restored.append({"address": vf, "driver": None, "gone": True})
            continue
        ports(st.agent).close_address(vf)
        st.acquire([vf])  # DeviceHeld naming the holder if another session drives this VF
        try:
            restored.append(restorer.restore(st.root, vf_entry, st.journal, use_udev=st.use_udev))
        finally:
            st.release(vf)
    result = sriov.remove(st.root, entry, st.journal, use_udev=st.use_udev)  # a PF bind entry is back
    result["vfs_restored"] = restored
    return result


def remove_all(st: "binding_ops.BindingState", entry: Dict[str, Any]) -> Dict[str, Any]:
    """remove_vfs, then a PF on vfio-pci back to its kernel driver (its bind entry restored)."""
    result = remove_vfs(st, entry)
    if entry.get("pf_bind"):
        ports(st.agent).close_address(entry["address"])
        result["pf_restored"] = restorer.restore(st.root, st.journal.read(entry["address"]), st.journal,
                                                 use_udev=st.use_udev)
    return result


@op("vf_create", address=str, num_vfs=int, force=bool, persistent=bool)
def vf_create(agent, address, num_vfs, force=False, persistent=False) -> dict:
    """Create `num_vfs` VFs on the PF at `address` (journalled first); persistent: survives the agent."""
    st = binding_ops.state(agent)
    address = str(PciAddress.parse(address))
    pf_bind = _own_vfio_bind(st, address)
    if pf_bind is None:
        st.acquire([address])
    try:
        if pf_bind is None:
            binding_ops.refuse_journalled(st, address)
        plan = sriov.check_create(st.root, address, num_vfs, session_ip=agent.session_ip,
                                  session_local=agent.session_local, allowed=st.allowed, force=force,
                                  pf_bind=pf_bind)
        result = sriov.create(st.root, plan, st.journal, st.owner(), persistent=persistent, use_udev=st.use_udev)
    except BaseException:
        if pf_bind is None:
            st.release(address)
        raise
    if persistent:
        st.release(address)  # `nictest vf remove` takes it back
    return result


def _own_vfio_bind(st: "binding_ops.BindingState", address: str):
    """The PF's bind entry if this session holds it on vfio-pci (VFs then come from vfio-pci:
    the VF-token case); None if the session does not hold it; refused if held otherwise."""
    if address not in st.held:
        return None
    entry = st.journal.read(address)
    if entry is None or sriov.is_sriov(entry) or is_group(entry) or entry.get("target") != sriov.VFIO:
        raise RefusedError(f"{address} is already held by this session; remove its VFs or restore it first")
    return entry


@op("vf_remove", address=str)
def vf_remove(agent, address) -> dict:
    """Remove the VFs nictest created on PF `address` (their bind entries first)."""
    st = binding_ops.state(agent)
    address = str(PciAddress.parse(address))
    entry = st.journal.read(address)
    if entry is None or not sriov.is_sriov(entry):
        raise RefusedError(f"{address} has no VFs created by nictest (no sriov journal entry); "
                           "`nictest vf list` shows the host's VFs")
    st.acquire([address])
    if entry.get("pf_bind"):
        # The PF stays on vfio-pci, held, with its bind entry back: as before vf_create.
        return remove_vfs(st, entry)
    return st.restore_held(address, st.journal.read(address))


@op("vf_list", address=str)
def vf_list(agent, address="") -> dict:
    """The SR-IOV PFs of the host (or one) with their VFs: {pfs: [{pf, total_vfs, num_vfs, vfs: [...]}],
    vfio_pci_enable_sriov}."""
    st = binding_ops.state(agent)
    root = st.root
    if address:
        candidates = [str(PciAddress.parse(address))]
    else:
        candidates = [str(a) for a in pci_addresses(root)]
    pfs = []
    for candidate in candidates:
        state_now = read_sriov(root, candidate)
        if state_now is None or physfn(root, candidate):
            continue
        entry = st.journal.read(candidate)
        pf, *vf_devices = read_devices(root, [candidate, *state_now.vfs])  # one discovery pass
        vfs = []
        for device in vf_devices:
            vf_entry = st.journal.read(str(device.address))
            vfs.append({"address": str(device.address), "device": device.device, "driver": device.driver,
                        "netdev": device.netdev, "mac": device.mac, "iommu_group": device.iommu_group,
                        "bound_by_nictest": bool(vf_entry), "target": (vf_entry or {}).get("target")})
        pfs.append(dict(state_now.to_dict(), vfs=vfs, driver=pf.driver,
                        created_by_nictest=bool(entry and sriov.is_sriov(entry)),
                        kind=st.classify(entry) if entry else None))
    # vfio-pci's enable_sriov ("Y"/"N"; None: vfio-pci not loaded): VFs of a PF on vfio-pci need it.
    return {"pfs": pfs, "vfio_pci_enable_sriov": sriov.enable_sriov(root)}
