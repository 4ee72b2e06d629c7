"""Hugepages exhausted, pagemap unreadable: a clear error from pmd_open, and nothing left bound.

The session that hit the error ends (its agent's dead man's switch restores the NIC);
the hugepage reservation is put back and checked.
"""
from __future__ import annotations

import pytest

from nictest import hosts
from nictest.errors import NictestError
from tests.reliability.conftest import require_lab, require_user_driver
from tests.reliability.labshell import LabShell

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
BACKENDS = {"vfio-pci": "vfio", "uio_pci_generic": "uio"}


def test_hugepages_exhausted(host, target, scenario, request, pmd_built):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    run = scenario("hugepages exhausted at pmd_open", target)
    with LabShell(host.spec) as shell:
        reserved = int(shell.read(NR_HUGEPAGES))
        holder = hosts.connect(host.spec)
        try:
            holder.call("bind", address=target, driver=driver, allow_uio=True)
            shell.write(NR_HUGEPAGES, "0")
            run.fault()
            with pytest.raises(NictestError, match="hugepage") as failed:
                holder.call("pmd_open", address=target, backend=BACKENDS[driver])
        finally:
            holder.close()  # the session ends: its agent restores the NIC
            shell.write(NR_HUGEPAGES, str(reserved))
        assert int(shell.read(NR_HUGEPAGES)) == reserved, "the hugepage reservation did not come back"
    assert holder.exit_status == 0
    run.wait_recovered(note=f"{type(failed.value).__name__}: {str(failed.value)[:100]}")


def test_pagemap_unreadable(host, target, scenario, request, pmd_built):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    if driver != "uio_pci_generic":
        pytest.skip("only UIO reads physical addresses from /proc/self/pagemap")
    run = scenario("pagemap unreadable at pmd_open (UIO)", target)
    with LabShell(host.spec) as shell:
        holder = hosts.connect(host.spec)
        pagemap = None
        try:
            pid = int(holder.call("agent_resources")["pid"])
            pagemap = f"/proc/{pid}/pagemap"
            shell.run(f"mount --bind /dev/null {pagemap}")  # reads now return nothing
            holder.call("bind", address=target, driver=driver, allow_uio=True)
            run.fault()
            with pytest.raises(NictestError, match="pagemap") as failed:
                holder.call("pmd_open", address=target, backend="uio")
        finally:
            if pagemap:
                shell.run(f"umount {pagemap}", check=False)
            holder.close()
    run.wait_recovered(note=f"{type(failed.value).__name__}: {str(failed.value)[:100]}")
