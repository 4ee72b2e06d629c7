"""The PCIe error guards around suite tests, without a lab: an inner pytest run with a fake
host that counts the agent's calls and logs an AER error on request. A feature test's AER
is read once before and once after (by the health guard, which holds the AER snapshot), a
plain NIC test's by the AER guard, and a new error fails the test either way."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import fixtures

pytest_plugins = ["pytester"]

INNER = '''
import json
import pytest

pytest_plugins = ["fixtures.aer", "fixtures.pcie_health"]

CALLS = []

class Host:
    name = "fake"
    def __init__(self):
        self.errors = 0
    def call(self, op, **args):
        CALLS.append(op)
        aer = {"address": args["address"], "present": True,
               "aer": {"uncorrectable": 0, "correctable": self.errors}, "counters": {}}
        if op == "pci_aer":
            return aer
        assert op == "pci_health", op
        return {"address": args["address"], "present": True, "pcie": {"device_status": 0}, "aer": aer}

@pytest.fixture
def host():
    return Host()

@pytest.fixture
def nic():
    return {"address": "0000:00:03.0"}

@pytest.fixture
def _nictest_feature_gate():
    return None

@pytest.mark.nic_feature("stats")
def test_feature_clean(host, nic):
    pass

@pytest.mark.nic_feature("stats")
def test_feature_logs_an_error(host, nic):
    host.errors = 1

def test_plain_clean(host, nic):
    pass

def test_plain_logs_an_error(host, nic):
    host.errors = 1

def test_zz_calls():
    with open("calls.json", "w") as out:   # pytester's directory
        json.dump(CALLS, out)
'''


def test_each_test_reads_aer_once_before_and_once_after_and_a_new_error_fails_it(pytester):
    pytester.makepyfile(test_inner=textwrap.dedent(INNER))
    pytester.syspathinsert(str(Path(fixtures.__file__).resolve().parent.parent))
    result = pytester.runpytest("-q", "-p", "no:randomly", "-p", "no:nictest")  # no host parametrizing
    result.assert_outcomes(passed=3, failed=2)
    out = result.stdout.str()
    calls = json.loads((pytester.path / "calls.json").read_text())
    # two feature tests: health before and after each; two plain tests: AER before and after each
    assert calls == ["pci_health"] * 4 + ["pci_aer"] * 4
    assert "PCIe error bit(s) set on 0000:00:03.0 during the test: correctable:" in out
    assert "PCIe error(s) logged on 0000:00:03.0 during the test: correctable:" in out
