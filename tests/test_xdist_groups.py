"""Under `-n`, every test of one host runs on one xdist worker, and the smoke stage first.

Runs a throwaway test module in a subprocess with two SSH hosts that are never
connected to: the module overrides `host`, so only the plugin's parametrization,
grouping and ordering are exercised (no lab needed).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

INVENTORY = """
[hosts.alpha]
kind = "ssh"
address = "192.0.2.1"
nics = ["0000:01:00.0", "0000:01:00.1"]

[hosts.beta]
kind = "ssh"
address = "192.0.2.2"
nics = ["0000:01:00.0", "0000:01:00.1"]
"""

TESTS = '''
import json, os, pytest

@pytest.fixture
def host(_nictest_host_name):
    return _nictest_host_name   # never connect: only the grouping is under test

def record(name, what):
    with open(os.environ["RUN_LOG"], "a") as log:
        log.write(json.dumps([name, what, os.environ.get("PYTEST_XDIST_WORKER")]) + "\\n")

@pytest.mark.parametrize("n", range(6))
def test_many(host, n):
    record(host, f"many{n}")

def test_per_nic(host, _nictest_nic):
    record(host, _nictest_nic)

@pytest.mark.smoke
def test_smoke(host):
    record(host, "smoke")
'''


def test_each_hosts_tests_run_on_one_worker_smoke_first(tmp_path):
    (tmp_path / "hosts.toml").write_text(INVENTORY)
    (tmp_path / "test_grouping.py").write_text(textwrap.dedent(TESTS))
    log = tmp_path / "run.log"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--host", "alpha", "--host", "beta", "--inventory", str(tmp_path / "hosts.toml"),
         f"--junitxml={tmp_path / 'junit.xml'}", f"--alluredir={tmp_path / 'allure'}",
         "test_grouping.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "RUN_LOG": str(log)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 2 * (6 + 2 + 1), rows
    workers = {}
    for name, _what, worker in rows:
        workers.setdefault(name, set()).add(worker)
    assert set(workers) == {"alpha", "beta"}
    assert all(len(w) == 1 and None not in w for w in workers.values()), f"a host spread over workers: {workers}"
    for name in workers:
        mine = [what for host, what, _ in rows if host == name]
        assert mine[0] == "smoke", f"{name}'s smoke test did not run first: {mine}"
