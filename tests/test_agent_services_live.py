"""The agent's services on a live host: a canary read after its port closed is a StateError
answered by the same agent process (before the Ports/Probes services, the agent read the
unmapped DMA memory and died with SIGSEGV, its restore hooks never run).

Needs `--host H` with a NIC the PMD drives: vfio-pci on an IOMMU host, uio_pci_generic
(with --allow-uio) on one without.
"""
from __future__ import annotations

import pytest

from fixtures.nics import require_driver
from fixtures.pmd import BACKENDS, ensure_built, no_driver_reason
from nictest import errors

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def nic_under_test(host) -> dict:
    """The first NIC under test (inventory `nics`, else any inactive one) that a PMD driver takes."""
    devices = host.call("status")["devices"]
    allowed = host.spec.nics
    candidates = [d for d in devices if (d["address"] in allowed if allowed is not None else not d["active"])]
    for dev in candidates:
        if no_driver_reason(host, dev) is None:
            return dev
    pytest.skip(f"{host.name}: no NIC under test that a nictest PMD driver takes "
                f"({', '.join(d['address'] for d in candidates) or 'none under test'})")


def test_canary_after_close_is_a_state_error_and_the_agent_lives(host, request):
    driver = "vfio-pci" if host.info.get("iommu") else "uio_pci_generic"
    require_driver(host, driver, request.config)
    ensure_built(host)
    nic = nic_under_test(host)
    pid = host.call("agent_resources")["pid"]
    host.call("bind", address=nic["address"], driver=driver, allow_uio=driver == "uio_pci_generic")
    try:
        port = host.call("pmd_open", address=nic["address"], backend=BACKENDS[driver])["port"]
        canary = host.call("iso_canary", port=port, size=8192)
        assert host.call("iso_canary_check", port=port, bus=canary["bus"])["changed_bytes"] == 0
        assert host.call("pmd_close", port=port)["closed"] is True
        with pytest.raises(errors.StateError, match=f"no open PMD port {port}"):
            host.call("iso_canary_check", port=port, bus=canary["bus"])
        with pytest.raises(errors.StateError, match=f"no open PMD port {port}"):
            host.call("pmd_dma_buffers", port=port, count=1)
        assert host.call("agent_resources")["pid"] == pid, "the agent was restarted: the first one died"
    finally:
        host.call("restore", address=nic["address"])
    now = {d["address"]: d for d in host.call("status")["devices"]}[nic["address"]]
    assert (now["driver"], now["netdev"]) == (nic["driver"], nic["netdev"]), now
    assert host.call("agent_resources")["pid"] == pid
