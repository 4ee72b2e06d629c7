"""The qualification report of a real pytest run under `-n 2` (what CI runs): fake marked
tests on two hosts that are never connected to pass, fail, error, skip as not claimed and
as not testable; the controller's JSON must hold every NIC's rows and verdicts.

The throwaway module overrides `host` (nothing connects); its conftest replaces the
plugin's end-of-run host reading with fixed facts, so the profile's claims are known
(tests/test_qualification.py checks the real reading against a fake agent).
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from headless_chromium import WINDOW, dump_dom, require_chromium, screenshot
from nictest.report import qualification as q
from rendered_html import parse
from test_qualification import matrix_of

REPO = Path(__file__).resolve().parent.parent

INVENTORY = """
[hosts.alpha]
kind = "ssh"
address = "192.0.2.1"
nics = ["0000:01:00.0", "0000:01:00.1"]

[hosts.beta]
kind = "ssh"
address = "192.0.2.2"
nics = ["0000:01:00.0"]
"""

CONFTEST = '''
import pytest

import nictest.plugin.qualification as qualification


@pytest.fixture(autouse=True)
def _nictest_feature_gate():
    """The claim gate needs a real host (tests/test_feature_gate.py tests it): only the recording is under test."""

CLAIMS = {"0000:01:00.0": ["rss", "vlan", "stats"], "0000:01:00.1": ["vlan"]}

def fixed_facts(pool, name, addresses, profile_dirs):
    return {"host": {"kernel": "6.1.0-fake", "iommu": name == "alpha"},
            "nics": {a: {"model": "fakenic", "vendor": "8086", "device": "10d3", "driver": "e1000e",
                         "firmware_version": "1.0", "profile": {"path": "/fake/fakenic.json", "sha256": "0" * 64,
                                                                 "model": "fakenic", "features": CLAIMS[a]}}
                     for a in addresses}}

qualification.host_facts = fixed_facts
'''

TESTS = '''
import pytest
from conftest import CLAIMS

@pytest.fixture
def host(_nictest_host_name):
    return _nictest_host_name      # never connect: only the recording is under test

@pytest.fixture
def claimed(request, _nictest_nic):
    feature = request.node.get_closest_marker("nic_feature").args[0]
    if feature not in CLAIMS[_nictest_nic]:
        pytest.skip(f"not claimed: {_nictest_nic}'s profile does not list {feature!r}")

@pytest.fixture
def breaks_on_beta(host):
    yield
    assert host != "beta", "restore after the stats test left the NIC unbound"

@pytest.mark.nic_feature("vlan")
def test_vlan_insert(host, _nictest_nic, claimed):
    pass

@pytest.mark.nic_feature("vlan")
def test_vlan_strip(host, _nictest_nic, claimed):
    assert (host, _nictest_nic) != ("alpha", "0000:01:00.1"), "stripped tag read back as 0, sent 5"

@pytest.mark.nic_feature("rss")
def test_rss_hash(host, _nictest_nic, claimed):
    if host == "alpha":
        pytest.skip("not testable: alpha's peer sends one flow only")

@pytest.mark.nic_feature("stats")
def test_stats(host, _nictest_nic, claimed, breaks_on_beta):
    pass

@pytest.mark.nic_feature("mtu")
def test_mtu(host, _nictest_nic, claimed):
    pass

@pytest.mark.dma
def test_dma_like(host, _nictest_nic):
    pass

@pytest.mark.profile
def test_profile_like(host, _nictest_nic):
    pass

def test_not_a_row(host, _nictest_nic):
    pass

@pytest.mark.nic_feature("vlan")
def test_host_level_is_no_nic_row(host):
    pass
'''


@pytest.fixture(scope="module")
def inner(tmp_path_factory):
    """One inner run for the module: (its CompletedProcess, the report directory)."""
    tmp_path = tmp_path_factory.mktemp("qualification-run")
    (tmp_path / "hosts.toml").write_text(INVENTORY)
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_fake_features.py").write_text(textwrap.dedent(TESTS))
    out = tmp_path / "qualification"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--host", "alpha", "--host", "beta", "--inventory", str(tmp_path / "hosts.toml"),
         f"--junitxml={tmp_path / 'junit.xml'}", f"--alluredir={tmp_path / 'allure'}",
         "--qualification-report", str(out), "test_fake_features.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        # This checkout's nictest, not whichever one the venv installed (the run is outside the repo).
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]   # one failure, one teardown error
    assert "2 workers" in run.stdout or "gw1" in run.stdout, "the inner run did not use xdist"
    return run, out


def test_the_controller_writes_every_nics_rows_under_xdist(inner):
    run, out = inner
    report = json.loads((out / q.JSON_NAME).read_text())
    assert (out / q.HTML_NAME).is_file()
    nics = {(h["name"], n["address"]): n for h in report["hosts"] for n in h["nics"]}
    assert sorted(nics) == [("alpha", "0000:01:00.0"), ("alpha", "0000:01:00.1"), ("beta", "0000:01:00.0")]
    status = {key: {row: e["status"] for row, e in nic["rows"].items()} for key, nic in nics.items()}

    a0, a1, b0 = status[("alpha", "0000:01:00.0")], status[("alpha", "0000:01:00.1")], status[("beta", "0000:01:00.0")]
    assert (a0["vlan"], a0["rss"], a0["stats"], a0["mtu"]) == ("pass", "not testable", "pass", "not claimed")
    assert (a0["profile"], a0["dma"], a0["datapath"], a0["checksum"]) == ("pass", "pass", "not run", "not claimed")
    assert (a1["vlan"], a1["rss"], a1["stats"]) == ("fail", "not claimed", "not claimed")
    assert (b0["vlan"], b0["rss"], b0["stats"]) == ("pass", "pass", "error")

    failed = nics[("alpha", "0000:01:00.1")]["rows"]["vlan"]
    assert failed["test"].startswith("test_fake_features.py::test_vlan_strip[alpha-0000:01:00.1")
    assert "stripped tag read back as 0, sent 5" in failed["message"]
    assert failed["tests"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    skipped = nics[("alpha", "0000:01:00.0")]["rows"]["rss"]["message"]
    assert skipped == "not testable: alpha's peer sends one flow only"
    assert "left the NIC unbound" in nics[("beta", "0000:01:00.0")]["rows"]["stats"]["message"]

    # Verdicts: datapath, restore and iommu did not run, so nothing is fully qualified here.
    assert nics[("alpha", "0000:01:00.1")]["verdict_line"].startswith("NOT QUALIFIED: vlan fails: AssertionError: "
                                                                     "stripped tag read back as 0, sent 5")
    assert nics[("beta", "0000:01:00.0")]["verdict"] == "NOT QUALIFIED"
    assert nics[("alpha", "0000:01:00.0")]["verdict_line"] == (
        "INCOMPLETE: 2 claimed features and 2 qualification suites pass; not testable on this host: "
        "rss (not testable: alpha's peer sends one flow only); not run: binding/restore, iommu isolation, datapath")
    assert report["verdict_line"].startswith("NOT QUALIFIED: 2 of 3 NICs not qualified")
    assert report["nictest"] and report["exit_status"] == 1 and "--qualification-report" in report["command"]
    assert "nictest: qualification report" in run.stdout and "NOT QUALIFIED: 2 of 3 NICs" in run.stdout


def test_chromium_renders_the_matrix_and_the_section_of_every_nic(inner):
    """The page as a reader sees it: one matrix row per NIC of the JSON, each cell the row's status,
    each NIC's section with its verdict line and first failure."""
    require_chromium()
    _, out = inner
    report = json.loads((out / q.JSON_NAME).read_text())
    page = (out / q.HTML_NAME).resolve().as_uri()
    root = parse(dump_dom(page))
    columns, cells = matrix_of(root)
    nics = {(h["name"], n["address"]): n for h in report["hosts"] for n in h["nics"]}
    assert sorted(columns) == sorted(nics), f"matrix columns {columns} != the JSON's NICs {sorted(nics)}"
    for key, nic in nics.items():
        assert cells[key] == {row: entry["status"] for row, entry in nic["rows"].items()}, key
    sections = {(s.attrs["data-host"], s.attrs["data-nic"]): s for s in root.find_all("nic")}
    assert sorted(sections) == sorted(nics)
    for key, nic in nics.items():
        assert nic["verdict_line"] in sections[key].text(), key
    assert "stripped tag read back as 0, sent 5" in sections[("alpha", "0000:01:00.1")].text()
    assert root.find("verdict").text() == report["verdict_line"]
    png = REPO / "reports" / "qualification-matrix.png"
    screenshot(page, png)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == WINDOW
