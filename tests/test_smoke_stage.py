"""The blocking smoke stage, end to end: a host whose agent cannot start fails its smoke
tests, its other tests skip with the smoke reason, and the healthy host's tests pass.

The broken host is the host under test reached with `become = "sudo"` on a lab that
has no sudo, so its agent never starts and it touches no NIC. The inner run uses only
smoke and read-only suites (other workers may be binding NICs on other hosts).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nictest import inventory

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.lab


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def inventory_with_broken_copy(source: Path, name: str, broken: str) -> str:
    """The inventory text plus `[hosts.<broken>]`: `name`'s entry with become = "sudo"."""
    hosts = tomllib.loads(source.read_text())["hosts"]
    hosts[broken] = dict(hosts[name], become="sudo")
    return "".join(f"[hosts.{host}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()) + "\n"
                   for host, table in hosts.items())


def outcomes(junit: Path) -> dict:
    """testcase name -> (verdict, message)."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        verdict, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                verdict, message = child.tag, child.get("message", "")
        found[case.get("name")] = (verdict, message)
    return found


def test_a_host_whose_agent_cannot_start_skips_only_its_own_suites(host, request, tmp_path):
    if host.spec.kind != "qemu":
        pytest.skip("breaks a copy of a bundled lab's entry (needs a qemu-kind host)")
    broken = f"{host.name}-broken"
    source = Path(inventory.load(request.config.getoption("inventory")).path)
    (tmp_path / "hosts.toml").write_text(inventory_with_broken_copy(source, host.name, broken))
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_smoke.py", "suites/test_discovery.py",
         "--host", host.name, "--host", broken, "--inventory", str(tmp_path / "hosts.toml"),
         "--keep-lab", "-q", "-p", "no:randomly", f"--junitxml={junit}",
         f"--alluredir={tmp_path / 'allure'}"],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    tail = run.stdout[-3000:]
    assert run.returncode == 1, f"the inner run should fail (the broken host's smoke stage): exit {run.returncode}\n{tail}"
    cases = outcomes(junit)
    healthy = {n: v for n, v in cases.items() if f"[{host.name}" in n and f"[{broken}" not in n}
    sick = {n: v for n, v in cases.items() if f"[{broken}" in n}
    assert healthy and sick, f"expected tests for both hosts, got {sorted(cases)}"

    assert all(v in ("passed", "skipped") for v, _ in healthy.values()), healthy
    assert sum(v == "passed" for v, _ in healthy.values()) >= 3, healthy

    smoke = {n: v for n, v in sick.items() if n.startswith(("test_agent_answers", "test_discovery_finds",
                                                            "test_one_bind_restore"))}
    rest = {n: v for n, v in sick.items() if n not in smoke}
    assert smoke and all(v in ("failure", "error") for v, _ in smoke.values()), smoke
    assert any("sudo not found" in m for _, m in smoke.values()), smoke
    assert rest and all(v == "skipped" and f"smoke stage failed on {broken}" in m for v, m in rest.values()), rest
    assert f"{broken}: test_agent_answers" in run.stdout, f"no smoke section in the summary:\n{tail}"
