"""Allure results of a run: only that run's (the directory is emptied first), one
environment entry per host plus the nictest version, and a Suites tree that reads
host -> NIC -> suite.

Runs a throwaway module twice in a subprocess with `--host local` (the local agent:
hello and nothing else; this machine's NICs are never touched), under -n 2 the second
time so the environment is merged from the workers.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

INVENTORY = """
[hosts.here]
kind = "local"
nics = []

[hosts.there]
kind = "local"
nics = []
"""

FIRST = '''
def test_from_the_first_run(host):
    assert host.info["kernel"]
'''

SECOND = '''
def test_from_the_second_run(host):
    assert host.info["kernel"]
'''


def run(tmp_path, module: str, *extra):
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(module))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--host", "here", "--host", "there",
         "--inventory", str(tmp_path / "hosts.toml"), f"--junitxml={tmp_path / 'junit.xml'}",
         f"--alluredir={tmp_path / 'allure'}", *extra, "test_probe.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)


def results(tmp_path) -> list:
    return [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]


def names(tmp_path) -> set:
    return {r["name"].split("[")[0] for r in results(tmp_path)}


def test_one_runs_results_with_every_hosts_environment_and_suites_by_host(tmp_path):
    (tmp_path / "hosts.toml").write_text(INVENTORY)
    first = run(tmp_path, FIRST)
    assert first.returncode == 0, first.stdout[-3000:]
    assert names(tmp_path) == {"test_from_the_first_run"}

    second = run(tmp_path, SECOND, "-n", "2")
    assert second.returncode == 0, second.stdout[-3000:]
    found = results(tmp_path)
    assert names(tmp_path) == {"test_from_the_second_run"}, "the first run's results were kept"
    for result in found:
        labels = {l["name"]: l["value"] for l in result["labels"]}
        host = labels["parentSuite"]
        assert host in ("here", "there") and labels["suite"] == "host" and labels["subSuite"] == "test_probe"
    assert {dict((l["name"], l["value"]) for l in r["labels"])["parentSuite"] for r in found} == {"here", "there"}

    env = dict(line.split("=", 1) for line in
               (tmp_path / "allure" / "environment.properties").read_text().splitlines())
    assert set(env) == {"nictest", "here", "there"}, env     # both hosts, though each was on its own worker
    assert env["here"].startswith("kernel ") and "IOMMU" in env["here"]
    assert env["nictest"].startswith("0.1.0")

    kept = run(tmp_path, FIRST, "--keep-allure-results")
    assert kept.returncode == 0, kept.stdout[-3000:]
    assert names(tmp_path) == {"test_from_the_first_run", "test_from_the_second_run"}
