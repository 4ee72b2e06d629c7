"""Two sessions racing for one NIC: one gets it, the other a clear "held by" error; the journal stays whole."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.reliability.conftest import journal_entries, require_user_driver

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def hold(host, address: str, driver: str):
    return subprocess.Popen([sys.executable, "-m", "nictest.cli", "hold", "--host", host.name, address, driver,
                             "--allow-uio"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_sessions_race_for_one_nic(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("two sessions race for one NIC", target)
    racers = [hold(host, target, driver), hold(host, target, driver)]
    try:
        lines = [proc.stdout.readline() for proc in racers]
        winners = [p for p, line in zip(racers, lines) if "bound to" in line]
        losers = [p for p, line in zip(racers, lines) if "bound to" not in line]
        assert len(winners) == 1, f"expected exactly one winner: {lines}"
        loser = losers[0]
        loser.wait(60)
        message = loser.stderr.read()
        assert loser.returncode != 0, f"the loser exited 0: {message}"
        assert "held by" in message, f"the loser's error does not say who holds the NIC: {message!r}"
        entries = host.call("journal")
        assert [e["address"] for e in entries["held"]] == [target], f"journal while held: {entries}"
        assert not entries["stale"] and not entries["persistent"]
        assert "error" not in entries["held"][0], f"journal entry unreadable: {entries['held'][0]}"
        run.fault()
        winners[0].send_signal(signal.SIGINT)  # the winner's session ends normally
        winners[0].wait(60)
    finally:
        for proc in racers:
            if proc.poll() is None:
                proc.kill()
    run.wait_recovered(note=message.strip().splitlines()[-1][:120])
    assert journal_entries(host) == []
