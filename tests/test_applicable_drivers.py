"""Driver variants that do not apply to a host are not collected: vfio-pci without an IOMMU,
uio_pci_generic with one; --driver brings them back; `iommu` tests stay (their skip is the
"isolation not provided" verdict). One summary line per host says what was left out, also
under -n 2 (workers collect, the controller prints).

The inner runs use two `local` hosts (the local agent's hello only, nothing bound): which
driver applies follows this machine's IOMMU, read here from sysfs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from nictest.pci.discovery import iommu_enabled
from nictest.plugin import applicable

REPO = Path(__file__).resolve().parent.parent


def fake_item(host, driver, *markers, fixtures=()):
    params = {"_nictest_host_name": host, **({"_nictest_driver": driver} if driver else {})}
    return SimpleNamespace(callspec=SimpleNamespace(params=params), fixturenames=list(fixtures),
                           get_closest_marker=lambda name: name if name in markers else None)


def test_split_keeps_the_applicable_driver_the_iommu_tests_and_unknown_hosts():
    items = [fake_item(h, d) for h in ("vfio-host", "uio-host", "unknown") for d in (applicable.VFIO, applicable.UIO)]
    isolation = fake_item("uio-host", applicable.VFIO, "iommu")
    no_driver = fake_item("uio-host", None, fixtures=("host", "nic"))
    group = fake_item("uio-host", None, fixtures=("host", "nic", "bound_group"))   # VFIO only
    iommu = {"vfio-host": True, "uio-host": False, "unknown": None}
    kept, dropped, counts = applicable.split(items + [isolation, no_driver, group], iommu.get)
    params = [(i.callspec.params["_nictest_host_name"], applicable.driver_of(i)) for i in dropped]
    assert params == [("vfio-host", applicable.UIO), ("uio-host", applicable.VFIO), ("uio-host", applicable.VFIO)]
    assert isolation in kept and no_driver in kept and len(kept) == 6
    assert counts == {"vfio-host": {applicable.UIO: 1}, "uio-host": {applicable.VFIO: 2}}
    assert applicable.lines(counts) == [
        "uio-host: 2 vfio-pci tests left out: host has no IOMMU, which VFIO needs; uio_pci_generic applies "
        "(use --driver vfio-pci to run them)",
        "vfio-host: 1 uio_pci_generic test left out: host has an IOMMU, VFIO applies "
        "(use --driver uio_pci_generic --allow-uio to run them)"]


INVENTORY = """
[hosts.here]
kind = "local"
nics = []

[hosts.there]
kind = "local"
nics = []
"""

PROBE = '''
import pytest

def test_per_driver(host, _nictest_driver):
    pass

@pytest.mark.iommu
def test_isolation(host, _nictest_driver):
    pass
'''


def inner(tmp_path: Path, *extra):
    (tmp_path / "hosts.toml").write_text(INVENTORY)
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(PROBE))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "--host", "here",
         "--host", "there", "--inventory", str(tmp_path / "hosts.toml"), f"--junitxml={tmp_path / 'junit.xml'}",
         f"--alluredir={tmp_path / 'allure'}", *extra, "test_probe.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    # (under --dist loadgroup xdist appends "@<group>" to the name)
    cases = {c.get("name").split("@")[0] for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    return run.stdout, cases


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_only_the_applicable_driver_is_collected_and_the_rest_is_named(tmp_path, workers):
    iommu = iommu_enabled("/")
    other = applicable.UIO if iommu else applicable.VFIO
    wanted = applicable.VFIO if iommu else applicable.UIO
    out, cases = inner(tmp_path, *workers)
    assert cases == {f"test_per_driver[{h}-{wanted}]" for h in ("here", "there")} | \
        {f"test_isolation[{h}-{d}]" for h in ("here", "there") for d in (applicable.VFIO, applicable.UIO)}, cases
    for host in ("here", "there"):
        assert f"{host}: 1 {other} test left out: {applicable.why_left_out(other)}" in out, out[-3000:]
    props = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "junit.xml").getroot().iter("property")}
    assert props[f"left_out.here.{other}"].startswith("1 tests: "), props


def test_an_explicit_driver_is_collected_everywhere(tmp_path):
    iommu = iommu_enabled("/")
    other = applicable.UIO if iommu else applicable.VFIO
    out, cases = inner(tmp_path, "--driver", other)
    assert {f"test_per_driver[{h}-{other}]" for h in ("here", "there")} <= cases, cases
    assert "left out" not in out, out[-3000:]


WORKER_CANNOT_ASK = '''
import nictest.plugin as plugin

_read = plugin._read_host_iommu


def _only_the_controller_gets_an_answer(config, name):
    # A worker that asked a busy host itself could get no answer and collect every variant
    # (seen in CI: xdist then stops, "Different tests were collected between gw0 and gw1").
    return None if hasattr(config, "workerinput") else _read(config, name)


plugin._read_host_iommu = _only_the_controller_gets_an_answer
'''


def test_workers_collect_from_the_controllers_host_facts(tmp_path):
    (tmp_path / "conftest.py").write_text(WORKER_CANNOT_ASK)
    iommu = iommu_enabled("/")
    wanted = applicable.VFIO if iommu else applicable.UIO
    out, cases = inner(tmp_path, "-n", "2")
    assert {c for c in cases if c.startswith("test_per_driver")} == \
        {f"test_per_driver[{h}-{wanted}]" for h in ("here", "there")}, out[-3000:]
