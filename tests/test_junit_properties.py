"""JUnit <testsuite> properties of a run: nictest's commit, each host's kernel and IOMMU,
the summary rows and the NICs' end state, with and without `-n 2` (under xdist only the
controller writes the file, and it runs no test).

Runs a throwaway module in a subprocess with two `local` hosts (the local agent: hello
and status, read only; this machine's NICs are never touched).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

INVENTORY = """
[hosts.here]
kind = "local"
nics = []

[hosts.there]
kind = "local"
nics = []
"""

PROBE = '''
def test_probe(host, record_property):
    record_property("probe_kernel", host.info["kernel"])
    assert host.info["kernel"]
'''


def junit_of(tmp_path: Path, *extra) -> ET.Element:
    (tmp_path / "hosts.toml").write_text(INVENTORY)
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(PROBE))
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--host", "here", "--host", "there",
         "--inventory", str(tmp_path / "hosts.toml"), f"--junitxml={junit}", f"--alluredir={tmp_path / 'allure'}",
         *extra, "test_probe.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)})   # this checkout's plugin, not an installed one
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return ET.parse(junit).getroot()


def head_commit() -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_suite_properties_carry_the_commit_hosts_and_summary(tmp_path, workers):
    root = junit_of(tmp_path, *workers)
    suites = list(root.iter("testsuite"))
    assert len(suites) == 1, ET.tostring(root)[:2000]
    props = {p.get("name"): p.get("value") for p in suites[0].find("properties")}
    assert props["nictest.commit"].split("+")[0] == head_commit(), props
    assert props["nictest"].endswith(f"({props['nictest.commit']})"), props
    kernel = os.uname().release
    for host in ("here", "there"):
        assert props[f"{host}.kernel"] == kernel, props
        assert props[f"{host}.iommu"] in ("True", "False"), props
        assert props[f"summary.{host}.-.-"].startswith("passed 1, failed 0, error 0, skipped 0"), props
    cases = list(root.iter("testcase"))
    assert len(cases) == 2, [c.get("name") for c in cases]
    for case in cases:   # record_property: per test, carried back from the workers too
        values = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert values["probe_kernel"] == kernel and values["nictest.host"] in ("here", "there"), values
