"""The resident agent (agent/resident.py) over real Unix sockets, its client identification
from /proc (agent/sshpeer.py) on fake tables, and the controller's fallback to a per-call agent.

The path through sshd (a direct-streamlocal channel) is exercised on the lab:
tests/test_lab_live.py::test_cli_calls_share_the_resident_agent.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nictest import errors
from nictest.agent import ops as agent_ops
from nictest.agent import resident, sshpeer
from nictest.hosts.local import PACKAGE_ROOT, LocalHost
from nictest.hosts.ssh import SSHHost
from nictest.inventory import HostSpec

SESSIONS = ["10.0.2.2 40001 10.0.2.15 22", "10.0.2.3 40002 10.0.2.15 22", "10.0.2.4 40003 10.0.2.15 22"]


def registry(hooks: list, gate: threading.Event, entered: threading.Event) -> dict:
    ops: dict = {}

    @agent_ops.op("ping", registry=ops)
    def ping(agent):
        return "pong"

    @agent_ops.op("whoami", registry=ops)
    def whoami(agent):
        return agent.session_ip

    @agent_ops.op("arm", registry=ops, label=str)
    def arm(agent, label):
        agent.on_shutdown(lambda: hooks.append(label))
        return True

    @agent_ops.op("wait_gate", registry=ops)
    def wait_gate(agent):
        entered.set()
        assert gate.wait(10), "the test never opened the gate"
        return "through"

    return ops


class Served:
    """A ResidentAgent on a socket in tmp_path, serving on a thread."""

    def __init__(self, tmp_path: Path, identify=None, idle_exit: float = 60.0) -> None:
        self.path = str(tmp_path / "r.sock")
        self.hooks: list = []
        self.gate, self.entered = threading.Event(), threading.Event()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(8)
        sessions = iter(SESSIONS)
        self.agent = resident.ResidentAgent(listener, identify=identify or (lambda conn: next(sessions)),
                                            idle_exit=idle_exit, ops=registry(self.hooks, self.gate, self.entered))
        self.thread = threading.Thread(target=self.agent.serve_forever, daemon=True)
        self.thread.start()

    def client(self) -> "Client":
        return Client(self.path)

    def stop(self) -> None:
        self.gate.set()
        self.agent.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the resident agent did not stop"


class Client:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(10)
        self.lines = self.sock.makefile("rb")
        self.next_id = 0

    def send(self, op: str, **args) -> int:
        self.next_id += 1
        self.sock.sendall(json.dumps({"id": self.next_id, "op": op, "args": args}).encode() + b"\n")
        return self.next_id

    def reply(self) -> dict:
        line = self.lines.readline()
        assert line, "the resident agent closed the connection"
        return json.loads(line)

    def call(self, op: str, **args):
        request_id = self.send(op, **args)
        reply = self.reply()
        assert reply["id"] == request_id and reply["ok"], reply
        return reply["result"]

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)  # EOF, as sshd relays the controller's
        assert self.lines.readline() == b"", "the agent answered after EOF"
        self.sock.close()


def assert_refused(client: Client) -> None:
    reply = client.reply()
    assert reply["ok"] is False and reply["id"] is None, reply
    assert reply["error"]["type"] == "RefusedError" and "through sshd" in reply["error"]["message"], reply
    client.close()


@pytest.fixture
def served(tmp_path):
    server = Served(tmp_path)
    yield server
    server.stop()


def wait_for(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_each_client_has_its_own_session_and_only_its_hooks_run_when_it_leaves(served):
    first, second = served.client(), served.client()
    assert first.call("whoami") == "10.0.2.2"
    assert second.call("whoami") == "10.0.2.3"
    assert first.call("arm", label="first") is True
    assert second.call("arm", label="second") is True
    first.close()
    wait_for(lambda: served.hooks == ["first"], "the first client's hook")
    assert second.call("ping") == "pong"  # the other session goes on
    assert served.hooks == ["first"]
    second.close()
    wait_for(lambda: served.hooks == ["first", "second"], "the second client's hook")


def test_ops_run_one_at_a_time_but_ping_does_not_wait(served):
    busy, other = served.client(), served.client()
    busy.send("wait_gate")
    assert served.entered.wait(10), "wait_gate never started"
    assert other.call("ping") == "pong"  # lock-free: answered while the other client's op runs
    blocked = other.send("whoami")
    other.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        other.sock.recv(1, socket.MSG_PEEK)  # whoami waits for wait_gate to finish
    other.sock.settimeout(10)
    served.gate.set()
    assert busy.reply()["result"] == "through"
    reply = other.reply()
    assert reply["id"] == blocked and reply["result"] == "10.0.2.3"
    busy.close()
    other.close()


def test_a_client_whose_ssh_session_cannot_be_told_is_closed_unserved(tmp_path):
    server = Served(tmp_path, identify=lambda conn: None)
    try:
        client = server.client()
        client.send("ping")
        assert_refused(client)
    finally:
        server.stop()


def test_stop_ends_every_session_and_runs_its_hooks(tmp_path):
    server = Served(tmp_path)
    client = server.client()
    assert client.call("arm", label="held") is True
    server.stop()
    assert server.hooks == ["held"]
    assert client.lines.readline() == b""


def test_leaves_after_idle_exit_without_clients(tmp_path):
    server = Served(tmp_path, idle_exit=0.3)
    client = server.client()
    assert client.call("ping") == "pong"
    time.sleep(resident.ACCEPT_TICK + 0.5)
    assert server.thread.is_alive(), "left while a client was connected"
    client.close()
    server.thread.join(resident.ACCEPT_TICK * 3 + 5)
    assert not server.thread.is_alive(), "still there with no client after idle_exit"


def test_a_stale_socket_is_removed_and_a_live_one_kept(tmp_path):
    stale = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(stale)
    dead.close()  # the file stays, nobody listens: a daemon that died
    assert resident.answering(stale) is False
    assert not os.path.exists(stale)
    live = str(tmp_path / "live.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(live)
    listener.listen(1)
    try:
        assert resident.answering(live) is True
        assert os.path.exists(live)
    finally:
        listener.close()


def test_start_daemonizes_once_and_the_daemon_refuses_a_client_not_from_sshd(tmp_path):
    path = str(tmp_path / "run" / "agent.sock")
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))

    def start() -> str:
        done = subprocess.run([sys.executable, "-m", "nictest.agent", "--resident", path], env=env,
                              cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    line = start()
    assert line.endswith(f"serving {path}"), line
    pid = int(line.split()[2])
    try:
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        assert start() == f"resident agent already serving {path}"
        client = Client(path)
        client.send("ping")  # this test process is no sshd: no SSH session to serve it under
        assert_refused(client)
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(path), "the daemon to remove its socket at SIGTERM", timeout=20)
    log = Path(f"{path}.log").read_text()
    assert "refused a client whose SSH session cannot be identified" in log
    assert f"pid {pid} left after" in log


# --- which SSH session a client came through: /proc read the kernel's way ------------
def kernel_hex(ip: str, port: int) -> str:
    """An address as /proc/net/tcp{,6} prints it on this machine: 32-bit words in host order."""
    import ipaddress

    raw = ipaddress.ip_address(ip).packed
    if sys.byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return f"{raw.hex().upper()}:{port:04X}"


def fake_proc(tmp_path: Path, pid: int, sockets: dict, tcp: list, tcp6: list = ()) -> str:
    """/proc/<pid>/fd with `sockets` {fd: inode} and net/tcp{,6} with (local, remote, state, inode) rows."""
    proc = tmp_path / "proc"
    fd_dir = proc / str(pid) / "fd"
    fd_dir.mkdir(parents=True)
    for fd, inode in sockets.items():
        os.symlink(f"socket:[{inode}]", fd_dir / str(fd))
    os.symlink("/dev/null", fd_dir / "0")
    net = proc / str(pid) / "net"
    net.mkdir()
    for name, rows in (("tcp", tcp), ("tcp6", tcp6)):
        lines = ["  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"]
        for n, (local, remote, state, inode) in enumerate(rows):
            lines.append(f"{n:4}: {kernel_hex(*local)} {kernel_hex(*remote)} {state} 00000000:00000000 "
                         f"00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 1 10 -1")
        (net / name).write_text("\n".join(lines) + "\n")
    return str(proc)


LISTEN = (("0.0.0.0", 22), ("0.0.0.0", 0), sshpeer.TCP_LISTEN, "100")


def test_the_session_is_the_sshd_socket_on_a_listening_port(tmp_path):
    session = (("10.0.2.15", 22), ("10.0.2.2", 40000), sshpeer.TCP_ESTABLISHED, "200")
    forward = (("10.0.2.15", 51000), ("192.0.2.9", 80), sshpeer.TCP_ESTABLISHED, "300")  # a direct-tcpip
    other = (("10.0.2.15", 22), ("10.0.2.7", 40500), sshpeer.TCP_ESTABLISHED, "400")  # another sshd's
    proc = fake_proc(tmp_path, 77, {3: "200", 4: "300"}, [LISTEN, session, forward, other])
    assert sshpeer.ssh_connection_of_pid(77, proc) == "10.0.2.2 40000 10.0.2.15 22"


def test_ipv6_and_v4_mapped_sessions(tmp_path):
    v6 = (("2001:db8::15", 2222), ("2001:db8::2", 50000), sshpeer.TCP_ESTABLISHED, "500")
    proc = fake_proc(tmp_path / "a", 5, {7: "500"}, [], [(("::", 2222), ("::", 0), sshpeer.TCP_LISTEN, "1"), v6])
    assert sshpeer.ssh_connection_of_pid(5, proc) == "2001:db8::2 50000 2001:db8::15 2222"
    mapped = (("::ffff:10.0.2.15", 22), ("::ffff:10.0.2.2", 41000), sshpeer.TCP_ESTABLISHED, "600")
    proc = fake_proc(tmp_path / "b", 6, {7: "600"}, [], [(("::", 22), ("::", 0), sshpeer.TCP_LISTEN, "1"), mapped])
    assert sshpeer.ssh_connection_of_pid(6, proc) == "10.0.2.2 41000 10.0.2.15 22"


@pytest.mark.parametrize("held", [{}, {3: "200", 4: "201"}], ids=["no-session", "two-sessions"])
def test_no_certain_session_is_none(tmp_path, held):
    rows = [LISTEN, (("10.0.2.15", 22), ("10.0.2.2", 40000), sshpeer.TCP_ESTABLISHED, "200"),
            (("10.0.2.15", 22), ("10.0.2.3", 40001), sshpeer.TCP_ESTABLISHED, "201")]
    proc = fake_proc(tmp_path, 9, held, rows)
    assert sshpeer.ssh_connection_of_pid(9, proc) is None


def test_peer_of_a_real_unix_socket_is_this_process():
    left, right = socket.socketpair(socket.AF_UNIX)
    try:
        assert sshpeer.peer_pid(left) == os.getpid()
        assert sshpeer.ssh_connection_of(left) is None  # a test process holds no SSH session
    finally:
        left.close()
        right.close()


# --- the controller: a resident agent that cannot serve gives way to a per-call one ----------
class FallbackHost(SSHHost):
    """An SSHHost whose resident agent is unavailable and whose per-call agent is a local one."""

    def __init__(self, spec, failure: Exception) -> None:
        super().__init__(spec)
        self.failure = failure
        self.modes: list = []
        self._local = LocalHost(spec)

    def _resident_possible(self) -> bool:
        return True

    def _open_stream(self):
        self.modes.append(self._mode)
        if self._mode == "resident":
            raise self.failure
        return self._local._open_stream()

    def _close_transport(self) -> None:
        pass


@pytest.mark.parametrize("failure", [
    errors.HostUnreachable("sshd refused a channel to /run/nictest/agent-x.sock"),
    errors.HostUnreachable("the resident agent did not start (status 1): mkdir: Permission denied"),
])
def test_controller_falls_back_to_a_per_call_agent(failure):
    host = FallbackHost(HostSpec(name="remote", kind="ssh", address="192.0.2.1", nics=()), failure)
    host.resident = True
    try:
        info = host.start()
        assert host.modes == ["resident", "exec"]
        assert info["resident"] is False and host.call("ping") == {"pong": True}
    finally:
        host.close()


def test_controller_does_not_hide_a_host_key_problem_behind_the_fallback():
    host = FallbackHost(HostSpec(name="remote", kind="ssh", address="192.0.2.1", nics=()),
                        errors.HostKeyError("host key of 192.0.2.1 CHANGED"))
    host.resident = True
    with pytest.raises(errors.HostKeyError):
        host.start()
    assert host.modes == ["resident"]
    host.close()
