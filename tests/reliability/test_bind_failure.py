"""A bind that fails, before or halfway: a clear error, and the NIC back where it was.

- vfio-pci on a host without IOMMU: refused before anything is touched.
- the user-space driver's module blacklisted (modprobe cannot load it): refused before
  anything is touched.
- the module removed while the device is driverless (between unbind and drivers_probe,
  the agent's crash-test pause): drivers_probe finds no driver, the bind rolls back.
"""
from __future__ import annotations

import shlex
import threading
import time

import pytest

from nictest import hosts
from nictest.errors import BindError, PrerequisiteMissing, RefusedError
from tests.reliability.conftest import require_lab, require_user_driver
from tests.reliability.labshell import LabShell

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

BLACKLIST = "/etc/modprobe.d/nictest-reliability.conf"


def module_of(driver: str) -> str:
    return driver.replace("-", "_")


def test_vfio_on_host_without_iommu_is_refused_untouched(host, target, scenario):
    if host.info.get("iommu"):
        pytest.skip(f"{host.name} has an IOMMU: vfio-pci binds there")
    run = scenario("vfio-pci on a host without IOMMU", target)
    run.fault()
    with pytest.raises(RefusedError, match="nothing was touched") as refused:
        host.call("bind", address=target, driver="vfio-pci")
    run.wait_recovered(timeout=5, note=str(refused.value)[:110])


def test_blacklisted_module_is_refused_untouched(host, target, scenario, request):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    module = module_of(driver)
    run = scenario(f"{module} blacklisted (modprobe fails)", target)
    with LabShell(host.spec) as shell:
        try:
            shell.write(BLACKLIST, f"install {module} /bin/false\n")
            shell.run(f"modprobe -r {shlex.quote(module)}")
            run.fault()
            with pytest.raises(PrerequisiteMissing, match=f"modprobe {driver}|modprobe {module}") as failed:
                host.call("bind", address=target, driver=driver, allow_uio=True)
            run.wait_recovered(timeout=5, note=str(failed.value)[:100])
        finally:
            shell.run(f"rm -f {BLACKLIST}")
        shell.run(f"modprobe {shlex.quote(module)}")  # the next test finds the host as usual


def test_module_removed_between_unbind_and_probe_rolls_back(host, target, scenario, request):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    module = module_of(driver)
    run = scenario(f"{module} removed between unbind and probe", target)
    holder = hosts.connect(host.spec)
    outcome = {}

    def bind() -> None:
        try:
            outcome["result"] = holder.call("bind", address=target, driver=driver, allow_uio=True,
                                            pause_after_unbind=6, timeout=180)
        except Exception as exc:  # noqa: BLE001 - examined below
            outcome["error"] = exc

    thread = threading.Thread(target=bind)
    try:
        with LabShell(host.spec) as shell:
            thread.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not shell.run(f"readlink /sys/bus/pci/devices/{target}/driver", check=False).strip():
                    break
                time.sleep(0.2)
            run.fault()
            shell.run(f"modprobe -r {shlex.quote(module)}")
            thread.join(180)
            shell.run(f"modprobe {shlex.quote(module)}")
    finally:
        thread.join(180)
        holder.close()
    error = outcome.get("error")
    assert isinstance(error, BindError), f"the bind did not fail as a BindError: {outcome}"
    assert "Rolled back" in str(error), str(error)
    run.wait_recovered(note=str(error)[:120])
