"""The controller (pytest, `nictest hold`) killed with SIGKILL: the agent's dead man's switch restores.

Three moments: while the NIC is bound, while the PMD is mid-transfer, and between
unbind and drivers_probe (the agent's crash-test pause holds the device driverless).
The killed controller is a real process with its own SSH connection and agent; the
session's own connection only watches.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.pmd import peer_restore, peer_up
from tests.reliability.conftest import dma_driver_and_peer, require_user_driver

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

CONTROLLER = Path(__file__).with_name("controller.py")


def start_controller(host, address: str, driver: str, phase: str) -> tuple:
    proc = subprocess.Popen([sys.executable, str(CONTROLLER), host.name, address, driver, phase],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        pytest.fail(f"controller ({phase}) did not get ready: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, json.loads(line.split(" ", 1)[1])


def kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def start_hold(host, address: str, driver: str):
    proc = subprocess.Popen([sys.executable, "-m", "nictest.cli", "hold", "--host", host.name, address, driver,
                             "--allow-uio"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "bound to" not in line:
        proc.kill()
        pytest.fail(f"nictest hold did not bind: {line} {proc.stderr.read()}")
    return proc


def driver_now(host, address: str):
    return next(d for d in host.call("status")["devices"] if d["address"] == address)["driver"]


def test_hold_killed_while_bound(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("nictest hold SIGKILL while bound", target)
    proc = start_hold(host, target, driver)
    assert driver_now(host, target) == driver
    run.fault()
    kill(proc)
    run.wait_recovered()


def test_controller_killed_while_bound(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("controller SIGKILL while bound", target)
    proc, _ = start_controller(host, target, driver, "bound")
    assert driver_now(host, target) == driver
    run.fault()
    kill(proc)
    run.wait_recovered()


def test_controller_killed_mid_transfer(host, target, scenario, request, pmd_built):
    driver, peer_dev = dma_driver_and_peer(host, target, request.config)
    link = peer_up(host, peer_dev)
    try:
        run = scenario("controller SIGKILL with the PMD mid-transfer", target)
        proc, _ = start_controller(host, target, driver, "tx")
        rx0 = link.counters()["rx_packets"]
        deadline = time.monotonic() + 20
        while link.counters()["rx_packets"] - rx0 < 1000 and time.monotonic() < deadline:
            time.sleep(0.3)  # kill only once frames are flowing
        flowing = link.counters()["rx_packets"] - rx0
        assert flowing >= 1000, f"the PMD transmission never started (peer got {flowing} frames)"
        run.fault()
        kill(proc)
        # The agent finishes the C loop it is in, then sees its input closed and restores.
        run.wait_recovered(timeout=60, note=f"peer had received {flowing} frames at the kill")
    finally:
        peer_restore(link)


def test_controller_killed_between_unbind_and_bind(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("controller SIGKILL between unbind and bind", target)
    proc, _ = start_controller(host, target, driver, "unbind")
    deadline = time.monotonic() + 30
    while driver_now(host, target) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert driver_now(host, target) is None, f"{target} never became driverless (the bind pause did not happen)"
    run.fault()
    kill(proc)
    run.wait_recovered(timeout=60, note="killed while the device had no driver")
