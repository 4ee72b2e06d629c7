"""The agent's lease: silence from the controller while it holds something ends the session.

In-process (Agent.serve on a pipe the test writes to) for the clock's rules, then
through LocalHost and a real agent process for the controller's heartbeat.
"""
from __future__ import annotations

import io
import json
import os
import sys
import threading
import time

import pytest

from nictest.agent import ops as agent_ops
from nictest.agent.server import Agent
from nictest.errors import ProtocolError
from nictest.hosts.local import LocalHost
from nictest.inventory import HostSpec
from test_agent import HOOK_SCRIPT

LEASE = 1.0


def lease_agent(restored: list) -> Agent:
    registry = dict(agent_ops.OPS)

    @agent_ops.op("arm", registry=registry)
    def arm(agent):
        agent.on_shutdown(lambda: restored.append(time.monotonic()))
        return True

    @agent_ops.op("work", registry=registry, seconds=float)
    def work(agent, seconds):
        time.sleep(seconds)
        return "done"

    return Agent(ops=registry, lease=LEASE)


class Conversation:
    """Agent.serve on a thread, fed through a pipe line by line."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        read_fd, self._write_fd = os.pipe()
        self._infile = os.fdopen(read_fd, "rb")
        self.out = io.BytesIO()
        self.status: list = []
        self.ended_at: float | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.status.append(self.agent.serve(self._infile, self.out))
        self.ended_at = time.monotonic()

    def send(self, id_: int, op: str, **args) -> None:
        os.write(self._write_fd, json.dumps({"id": id_, "op": op, "args": args}).encode() + b"\n")

    def replies(self) -> list:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def wait_replies(self, count: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.replies()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.replies()

    def ended(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        try:
            os.close(self._write_fd)
        except OSError:
            pass
        self._thread.join(10)


def test_silence_while_holding_runs_the_hooks_within_the_lease():
    restored: list = []
    talk = Conversation(lease_agent(restored))
    try:
        talk.send(1, "arm")
        assert talk.wait_replies(1)[0]["result"] is True
        replied = time.monotonic()
        assert talk.ended(LEASE + 5), "the agent kept waiting after its lease ran out"
        assert talk.status == [0] and talk.agent.lease_expired and len(restored) == 1
        assert LEASE - 0.1 <= restored[0] - replied <= LEASE + 2.0
    finally:
        talk.close()


def test_holding_nothing_means_silence_costs_nothing():
    restored: list = []
    talk = Conversation(lease_agent(restored))
    try:
        talk.send(1, "ping")
        talk.wait_replies(1)
        assert not talk.ended(LEASE * 2.5), "an agent that holds nothing gave up on a quiet controller"
        talk.send(2, "ping")
        assert talk.wait_replies(2)[1]["result"] == {"pong": True}
    finally:
        talk.close()
    assert talk.status == [0] and not talk.agent.lease_expired and restored == []


def test_an_op_longer_than_the_lease_is_the_agent_busy_not_the_controller_gone():
    restored: list = []
    talk = Conversation(lease_agent(restored))
    try:
        talk.send(1, "arm")
        talk.wait_replies(1)
        talk.send(2, "work", seconds=LEASE * 2.5)
        assert talk.wait_replies(2)[1]["result"] == "done"
        assert restored == [] and not talk.ended(0)
        talk.send(3, "heartbeat")  # within the lease after the long reply
        assert talk.wait_replies(3)[2]["result"] == {"lease": LEASE, "armed": True}
        assert restored == []
    finally:
        talk.close()
    assert talk.status == [0] and not talk.agent.lease_expired and len(restored) == 1  # EOF restored


def test_heartbeats_keep_the_lease():
    restored: list = []
    talk = Conversation(lease_agent(restored))
    try:
        talk.send(1, "arm")
        for n in range(2, 7):
            time.sleep(LEASE / 2)
            talk.send(n, "heartbeat")
        assert len(talk.wait_replies(6)) == 6 and restored == [] and not talk.ended(0)
    finally:
        talk.close()


@pytest.mark.parametrize("seconds", [0, 0.5, 3601, -1])
def test_lease_outside_its_range_is_refused_with_the_fix(seconds):
    with pytest.raises(ProtocolError, match="lease must be 1-3600 seconds.*hosts.toml"):
        Agent(ops={}).set_lease(seconds)


# --- the controller's heartbeat, through LocalHost and a real agent process ----

class HookAgentHost(LocalHost):
    """The real agent entry point plus an `arm` op whose shutdown hook writes a marker file."""

    def agent_command(self) -> list:
        return [sys.executable, "-c", HOOK_SCRIPT]


@pytest.fixture
def hook_host():
    if os.geteuid() != 0:
        pytest.fail("the agent needs root (hello refuses otherwise); run the tests as root like CI", pytrace=False)
    host = HookAgentHost(HostSpec(name="lease-test", kind="local", nics=(), lease=1.5))
    yield host
    host.close()


def test_the_controller_heartbeat_keeps_a_quiet_session_alive(hook_host, tmp_path):
    marker = tmp_path / "restored"
    assert hook_host.start()["lease"] == 30.0  # the agent's default, before the session op
    assert hook_host.call("heartbeat") == {"lease": 1.5, "armed": False}  # the session op set the host's
    hook_host.call("arm", path=str(marker))
    pid = hook_host._pid
    time.sleep(1.5 * 3)  # three leases without a call of ours
    assert not marker.exists(), "the agent restored although the controller's heartbeat was running"
    assert hook_host.call("heartbeat") == {"lease": 1.5, "armed": True} and hook_host._pid == pid


def test_a_controller_that_stops_talking_loses_its_devices_within_the_lease(hook_host, tmp_path):
    marker = tmp_path / "restored"
    hook_host.start()
    hook_host.call("arm", path=str(marker))
    hook_host._stop_heartbeat()  # a hung controller: the connection stays open, nothing is said
    stream = hook_host._stream
    started = time.monotonic()
    status = stream.wait(10)
    assert status == 0, "the agent did not end its session when its lease ran out"
    assert marker.read_text() == "restored"
    assert time.monotonic() - started <= 1.5 + 3.0
    assert "no request for 1.5s (the lease)" in hook_host.stderr_tail(wait=5)


# --- hosts.toml `lease` -------------------------------------------------------

def test_inventory_lease_default_value_and_range(tmp_path):
    from nictest import inventory
    from nictest.errors import InventoryError

    path = tmp_path / "hosts.toml"
    path.write_text('[hosts.a]\nkind = "local"\n\n[hosts.b]\nkind = "local"\nlease = 8\n')
    loaded = inventory.load(path)
    assert (loaded.get("a").lease, loaded.get("b").lease) == (30.0, 8.0)
    for bad, expected in (("0", "positive"), ("7200", "1-3600 seconds"), ('"30s"', "positive")):
        path.write_text(f'[hosts.a]\nkind = "local"\nlease = {bad}\n')
        with pytest.raises(InventoryError, match=rf"hosts\.a\.lease: expected .*{expected}"):
            inventory.load(path)


def test_the_lease_is_armed_only_while_the_binding_layer_holds_a_device(tmp_path, monkeypatch):
    from nictest.agent import binding_ops

    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("NICTEST_LOCK_DIR", str(tmp_path / "locks"))
    agent = Agent(ops=dict(agent_ops.OPS))
    state = binding_ops.state(agent)
    lock = state.locks.acquire("0000:00:03.0", state.owner())
    state.held["0000:00:03.0"] = lock  # what bind leaves behind
    assert agent.lease_armed()
    state.release("0000:00:03.0")  # what restore ends with
    assert not agent.lease_armed(), "an agent holding nothing would still give up on a quiet controller"
    assert state.locks.is_free("0000:00:03.0")
