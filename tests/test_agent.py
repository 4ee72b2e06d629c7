"""The agent protocol, in-process (Agent.serve on byte streams) and as a real subprocess."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nictest
from nictest.agent import ops as agent_ops
from nictest.agent.__main__ import session_ip
from nictest.agent.server import MAX_LINE, Agent

REPO = Path(nictest.__file__).resolve().parent.parent


def make_agent() -> Agent:
    """An agent with a private registry: the core ops plus test ops."""
    registry = dict(agent_ops.OPS)

    @agent_ops.op("add", registry=registry, a=int, b=(int, float))
    def add(agent, a, b=0):
        return a + b

    @agent_ops.op("boom", registry=registry)
    def boom(agent):
        raise KeyError("no such thing")

    @agent_ops.op("refuse", registry=registry)
    def refuse(agent):
        from nictest.errors import RefusedError

        raise RefusedError("eth0 carries the SSH session; pick another NIC")

    @agent_ops.op("chatty", registry=registry)
    def chatty(agent):
        print("stray output")
        return "done"

    return Agent(ops=registry, session_ip="10.0.2.15")


def converse(agent: Agent, *lines: bytes | str) -> list[dict]:
    data = b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)
    out = io.BytesIO()
    assert agent.serve(io.BytesIO(data), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def request(id_, op, **args) -> str:
    return json.dumps({"id": id_, "op": op, "args": args})


def test_ping_and_hello():
    ping, hello = converse(make_agent(), request(1, "ping"), request(2, "hello"))
    assert ping == {"id": 1, "ok": True, "result": {"pong": True}}
    assert hello["id"] == 2 and hello["ok"]
    info = hello["result"]
    assert info["uid"] == os.geteuid() and info["kernel"] == os.uname().release
    assert info["session_ip"] == "10.0.2.15"
    assert isinstance(info["missing"], list)
    assert {"ping", "hello", "status"} <= set(info["ops"])


def test_args_are_checked_against_declared_types():
    replies = converse(
        make_agent(),
        request(1, "add", a=2, b=3.5),
        request(2, "add", a=2),
        request(3, "add", a="2"),
        request(4, "add", a=True),
        request(5, "add", b=1),
        request(6, "add", a=1, c=1),
        json.dumps({"id": 7, "op": "add", "args": [1, 2]}),
    )
    assert [r["ok"] for r in replies] == [True, True, False, False, False, False, False]
    assert replies[0]["result"] == 5.5 and replies[1]["result"] == 2
    for reply, text in zip(replies[2:], ["a must be int", "a must be int", "missing argument(s) a",
                                         "unknown argument(s) c", "args must be a JSON object"]):
        assert reply["error"]["type"] == "ProtocolError"
        assert text in reply["error"]["message"]


def test_malformed_requests_get_typed_errors_and_the_agent_keeps_serving():
    replies = converse(
        make_agent(),
        "{not json",
        "[1, 2]",
        json.dumps({"id": "x", "op": "ping"}),
        json.dumps({"id": 4, "op": 5}),
        json.dumps({"id": 5, "op": "ping", "extra": 1}),
        request(6, "frobnicate"),
        b"\xff\xfe",
        request(8, "ping"),
    )
    assert len(replies) == 8
    for reply in replies[:7]:
        assert reply["ok"] is False and reply["error"]["type"] == "ProtocolError"
    assert [r["id"] for r in replies[:3]] == [None, None, None]
    assert "unknown op 'frobnicate'" in replies[5]["error"]["message"]
    assert replies[7] == {"id": 8, "ok": True, "result": {"pong": True}}


def test_huge_line_is_refused_and_skipped():
    huge = b'{"id": 1, "op": "ping", "args": {"pad": "' + b"x" * (MAX_LINE + 10) + b'"}}'
    replies = converse(make_agent(), huge, request(2, "ping"))
    assert replies[0]["id"] is None and replies[0]["error"]["type"] == "ProtocolError"
    assert "longer than" in replies[0]["error"]["message"]
    assert replies[1]["ok"] and replies[1]["id"] == 2


def test_unexpected_exception_is_agent_error_and_typed_errors_keep_their_type():
    boom, refuse, ping = converse(make_agent(), request(1, "boom"), request(2, "refuse"), request(3, "ping"))
    assert boom["error"] == {"type": "AgentError", "message": "KeyError: 'no such thing'"}
    assert refuse["error"]["type"] == "RefusedError"
    assert ping["ok"]


def test_eof_runs_shutdown_hooks_newest_first_even_if_one_fails():
    agent, ran = make_agent(), []
    agent.on_shutdown(lambda: ran.append("first"))
    agent.on_shutdown(lambda: 1 / 0)
    cancelled = agent.on_shutdown(lambda: ran.append("cancelled"))
    agent.on_shutdown(lambda: ran.append("last"))
    agent.cancel_shutdown(cancelled)
    assert converse(agent, request(1, "ping"))[0]["ok"]
    assert ran == ["last", "first"]


def test_session_ip_is_the_client_side_of_ssh_connection():
    assert session_ip("192.168.1.9 50122 10.0.2.15 22") == "192.168.1.9"
    assert session_ip("") is None and session_ip(None) is None and session_ip("garbage") is None


def test_op_registration_checks_declared_types_match_parameters():
    with pytest.raises(TypeError, match="do not match"):
        agent_ops.op("bad", registry={}, a=int)(lambda agent, b: b)
    registry = {}
    agent_ops.op("dup", registry=registry)(lambda agent: 1)
    with pytest.raises(ValueError, match="twice"):
        agent_ops.op("dup", registry=registry)(lambda agent: 1)


# --- as a real subprocess --------------------------------------------------

# Starts the real entry point with one extra op that registers a shutdown hook
# writing a marker file, so the dead man's switch is observable from outside.
HOOK_SCRIPT = textwrap.dedent("""
    import sys
    from nictest.agent import ops
    from nictest.agent.__main__ import main

    @ops.op("arm", path=str)
    def arm(agent, path):
        agent.on_shutdown(lambda: open(path, "w").write("restored"))
        print("this must not reach the protocol stream")
        return True

    sys.exit(main(sys.argv[1:]))
""")


def start_agent(*argv: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-c", HOOK_SCRIPT, *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def roundtrip(proc: subprocess.Popen, line: str) -> dict:
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


@pytest.mark.parametrize("how", ["eof", "sigterm", "sighup"])
def test_subprocess_restores_on_eof_and_signals(tmp_path, how):
    marker = tmp_path / "marker"
    proc = start_agent("--ssh-connection", "10.0.2.2 4000 10.0.2.15 22")
    try:
        assert roundtrip(proc, request(1, "arm", path=str(marker)))["result"] is True
        hello = roundtrip(proc, request(2, "hello"))["result"]
        assert hello["session_ip"] == "10.0.2.2"
        if how == "eof":
            proc.stdin.close()
        else:
            proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
        assert proc.wait(timeout=20) == 0
        assert proc.stdout.read() == b""  # the stray print went to stderr
        assert b"this must not reach" in proc.stderr.read()
        assert marker.read_text() == "restored"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_subprocess_answers_malformed_and_huge_lines_and_keeps_serving():
    proc = start_agent()
    try:
        assert roundtrip(proc, "{oops")["error"]["type"] == "ProtocolError"
        huge = roundtrip(proc, '{"id": 1, "op": "ping", "args": {"p": "' + "x" * (MAX_LINE + 1) + '"}}')
        assert huge["id"] is None and "longer than" in huge["error"]["message"]
        assert roundtrip(proc, request(3, "arm", path=5))["error"]["type"] == "ProtocolError"
        assert roundtrip(proc, request(4, "ping")) == {"id": 4, "ok": True, "result": {"pong": True}}
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# --- through LocalHost (the controller's client over a subprocess) -----------

@pytest.fixture
def local_host():
    from nictest.hosts.local import LocalHost
    from nictest.inventory import HostSpec

    host = LocalHost(HostSpec(name="local", kind="local", nics=()))
    if os.geteuid() != 0:
        from nictest.errors import PrerequisiteMissing

        with pytest.raises(PrerequisiteMissing, match="root privileges"):
            host.start()
        pytest.skip("the agent needs root: hello lists it missing (checked above)")
    yield host
    host.close()


def test_local_host_ping_hello_status(local_host):
    info = local_host.start()
    assert info["agent_version"] and info["missing"] == [] and info["uid"] == 0
    assert local_host.call("ping") == {"pong": True}
    pci = pytest.importorskip("nictest.pci")
    if not hasattr(pci, "discover"):
        pytest.skip("nictest.pci.discover has not landed yet")
    devices = local_host.call("status")["devices"]
    assert isinstance(devices, list)
    assert all(isinstance(d, dict) for d in devices)


def test_local_host_errors_are_typed_and_the_agent_keeps_serving(local_host):
    from nictest.errors import ProtocolError

    with pytest.raises(ProtocolError, match="local: unknown op 'frobnicate'"):
        local_host.call("frobnicate")
    with pytest.raises(ProtocolError, match="unknown argument"):
        local_host.call("ping", verbose=True)
    with pytest.raises(ProtocolError, match="limit"):
        local_host.call("ping", pad="x" * (MAX_LINE + 1))
    assert local_host.call("ping") == {"pong": True}


def test_local_host_close_ends_agent_with_status_0(local_host):
    local_host.start()
    local_host.close()
    assert local_host.exit_status == 0 and local_host.info is None


def test_signal_agent_with_sigkill_returns_once_the_agent_has_exited():
    """A crash test reads the journal right after the kill: by then the agent's files (its
    locks) must be closed, so the op waits for the exit (gone, or a zombie with no thread
    left but its leader: the files close with the last thread)."""
    import signal
    import subprocess
    import sys

    from nictest.agent import ops as agent_ops
    from nictest.agent.server import Agent

    import time

    threaded = ("import threading, time\n"
                "for _ in range(8): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                "time.sleep(60)")
    victim = subprocess.Popen([sys.executable, "-c", threaded, "nictest.agent"])
    deadline = time.monotonic() + 10
    while b"nictest.agent" not in open(f"/proc/{victim.pid}/cmdline", "rb").read().split(b"\0"):
        assert time.monotonic() < deadline, "the stand-in agent never started"
        time.sleep(0.01)  # until its exec is done
    try:
        reply = agent_ops.OPS["signal_agent"].fn(Agent(ops=dict(agent_ops.OPS)), pid=victim.pid,
                                                 signal=int(signal.SIGKILL))
        assert reply["exited"] is True
        with open(f"/proc/{victim.pid}/stat", "rb") as handle:  # not reaped yet: a zombie
            assert handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        assert os.listdir(f"/proc/{victim.pid}/task") == [str(victim.pid)]
    finally:
        victim.kill()
        victim.wait()
