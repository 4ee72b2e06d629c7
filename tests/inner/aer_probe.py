"""Run ONLY as tests/reliability/test_aer_injection.py's inner pytest run (its name keeps
the normal collection away from it): three tests on the NIC under test, each of which
says it is running (a file) and waits until the outer test, which may inject a PCIe
error meanwhile, lets it end. The AER guard (fixtures/aer.py) gives the verdicts.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab
WAIT = 120.0


def hold(name: str, host) -> None:
    signals = Path(os.environ["NICTEST_AER_SIGNALS"])
    (signals / f"running-{name}").write_text("")
    deadline = time.monotonic() + WAIT
    while not (signals / f"done-{name}").exists():
        assert time.monotonic() < deadline, f"the outer test never let {name} end"
        time.sleep(0.2)
    assert host.call("ping") == {"pong": True}


@pytest.mark.parametrize("name", ["first", "second", "third"])
def test_probe(name, host, nic):
    hold(name, host)
