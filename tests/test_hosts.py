"""Host transports: the reconnect logic on LocalHost, and SSHHost against a real sshd on loopback.

The sshd is started by the tests with a throwaway host key, client key and
config in a temp dir (needs the openssh-server package). HOME points at a temp
dir so nothing of the user's ~/.ssh is read or written.
"""
from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paramiko
import pytest

from nictest import hosts
from nictest.errors import HostKeyError, HostUnreachable, InventoryError, PrerequisiteMissing
from nictest.hosts.base import AgentStream, Host
from nictest.hosts.local import LocalHost
from nictest.hosts.ssh import AgentBundle, SSHHost, agent_files, content_hash, fingerprint
from nictest.inventory import HostSpec

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if os.path.exists(p)), None)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the agent refuses to start without root")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path) -> paramiko.PKey:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


class Sshd:
    """A private sshd on 127.0.0.1 that accepts one generated key for the current user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.host_key = keygen(root / "host_key")
        self.client_key_path = root / "id_ed25519"
        keygen(self.client_key_path)
        (root / "authorized_keys").write_text((root / "id_ed25519.pub").read_text())
        config = root / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {root / 'host_key'}",
            f"PidFile {root / 'sshd.pid'}",
            f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "Subsystem sftp internal-sftp",
            "LogLevel ERROR",
            "",
        ]))
        self.log = open(root / "sshd.log", "wb")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=self.log)
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 10s")

    def known_hosts_line(self, key: paramiko.PKey | None = None) -> str:
        key = key or self.host_key
        return f"[127.0.0.1]:{self.port} {key.get_name()} {key.get_base64()}\n"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if SSHD is None:
        pytest.skip("sshd not installed: apt-get install openssh-server")
    if os.geteuid() == 0:
        # sshd insists on its privilege separation directory (normally made by its service unit).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agent_cache(tmp_path_factory) -> Path:
    """Shared by every SSHHost of this module, like /var/cache/nictest/agent across sessions."""
    return tmp_path_factory.mktemp("agent-cache")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME: ~/.ssh/config and ~/.ssh/known_hosts are the test's own."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # no keys from the developer's agent
    return home


def loopback_host_class(cache: Path, bundle: AgentBundle) -> type:
    class LoopbackSSHHost(SSHHost):
        # This machine's interpreter (it has cffi/pyudev), and a temp cache, not /var/cache.
        remote_python = sys.executable

        def agent_cache_dir(self, user: str) -> str:
            return str(cache)

        def agent_bundle(self) -> AgentBundle:
            # One snapshot per module: edits to the checkout mid-run must not look like a re-upload.
            return bundle

    return LoopbackSSHHost


@pytest.fixture(scope="module")
def bundle() -> AgentBundle:
    return AgentBundle.read()


@pytest.fixture
def make_host(sshd, agent_cache, bundle, home, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line())
    made = []

    def make(**overrides) -> SSHHost:
        fields = dict(name="loop", kind="ssh", address="127.0.0.1", port=sshd.port, user=getpass.getuser(),
                      identity=str(sshd.client_key_path), known_hosts=str(known_hosts), connect_timeout=5.0,
                      call_timeout=30.0)
        fields.update(overrides)
        host = loopback_host_class(agent_cache, bundle)(HostSpec(**fields))
        made.append(host)
        return host

    yield make
    for host in made:
        host.close()


# --- SSHHost against a real sshd ---------------------------------------------

@needs_root
def test_status_over_ssh_and_second_connection_reuses_upload(make_host, agent_cache, bundle):
    agent_dir = agent_cache / bundle.digest
    uploaded_before = agent_dir.exists()
    first = make_host()
    info = first.start()
    assert Path(info["package_dir"]) == agent_dir / "nictest"  # ran the uploaded copy
    assert info["session_ip"] == "127.0.0.1"
    assert first.uploads == (0 if uploaded_before else 1)
    assert not (agent_dir / "nictest" / "hosts").exists()  # controller-only code stays home
    uploaded = [(p.relative_to(agent_dir).as_posix(), p) for p in agent_dir.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts]  # .pyc files are the agent's own
    assert content_hash(uploaded) == bundle.digest
    assert not [p for p in agent_cache.iterdir() if p.name.startswith(".upload-")]
    inode = agent_dir.stat().st_ino
    assert isinstance(first.call("status", timeout=60)["devices"], list)
    first.close()
    assert first.exit_status == 0

    second = make_host()
    assert second.call("ping") == {"pong": True}
    assert second.uploads == 0
    assert agent_dir.stat().st_ino == inode


@needs_root
def test_connect_via_ssh_config_alias(make_host, home, sshd):
    (home / ".ssh" / "config").write_text(
        f"Host looplab\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {getpass.getuser()}\n"
        f"  IdentityFile {sshd.client_key_path}\n"
    )
    host = make_host(address="looplab", port=None, user=None, identity=None)
    assert host.call("ping") == {"pong": True}
    assert host.describe() == f"{getpass.getuser()}@127.0.0.1:{sshd.port}"


def test_unknown_host_key_is_refused_with_fingerprint(make_host, tmp_path, sshd):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as info:
        make_host(known_hosts=str(empty)).start()
    message = str(info.value)
    assert f"127.0.0.1 port {sshd.port}" in message and "not known" in message
    assert fingerprint(sshd.host_key) in message and "ssh-keyscan" in message


def test_changed_host_key_is_refused(make_host, tmp_path, sshd):
    other = keygen(tmp_path / "other_key")
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(sshd.known_hosts_line(other))
    with pytest.raises(HostKeyError) as info:
        make_host(known_hosts=str(wrong)).start()
    message = str(info.value)
    assert "CHANGED" in message and f"port {sshd.port}" in message
    assert fingerprint(sshd.host_key) in message and fingerprint(other) in message
    assert "ssh-keygen -R" in message


def test_ssh_config_cannot_switch_host_key_checking_off(make_host, home, tmp_path, sshd):
    """StrictHostKeyChecking no / UserKnownHostsFile /dev/null in ~/.ssh/config are not honoured:
    a changed key is still refused, with both fingerprints."""
    other = keygen(tmp_path / "other_key")
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(sshd.known_hosts_line(other))
    (home / ".ssh" / "config").write_text(
        f"Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  CheckHostIP no\n"
    )
    with pytest.raises(HostKeyError) as info:
        make_host(known_hosts=str(wrong)).start()
    assert "CHANGED" in str(info.value) and fingerprint(sshd.host_key) in str(info.value)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="not known"):
        make_host(known_hosts=str(empty)).start()


def test_no_code_path_accepts_unknown_host_keys():
    """No AutoAddPolicy/WarningPolicy and no switch that turns verification off, anywhere in nictest/."""
    package = Path(hosts.__file__).resolve().parent.parent
    for path in package.rglob("*.py"):
        text = path.read_text()
        for needle in ("AutoAddPolicy", "WarningPolicy", "StrictHostKeyChecking=no", "StrictHostKeyChecking no",
                       "UserKnownHostsFile=/dev/null"):
            assert needle not in text, f"{path}: {needle}"


def test_wrong_key_fails_authentication(make_host, tmp_path):
    stranger = tmp_path / "stranger"
    keygen(stranger)
    with pytest.raises(HostUnreachable, match="key authentication .* failed"):
        make_host(identity=str(stranger)).start()


def test_unreachable_port_fails_fast_naming_host_and_port(make_host):
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as info:
        make_host(port=port, connect_timeout=2.0).start()
    assert time.monotonic() - started < 4
    message = str(info.value)
    assert f"127.0.0.1 port {port}" in message and "firewall" in message


def test_silent_port_times_out_within_connect_timeout(make_host):
    # Accepts TCP but never sends an SSH banner: like a host behind a stuck middlebox.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(HostUnreachable) as info:
            make_host(port=port, connect_timeout=1.0).start()
        assert time.monotonic() - started < 5
    assert f"127.0.0.1 port {port}" in str(info.value)


@needs_root
def test_missing_python_is_a_prerequisite(make_host):
    host = make_host()
    host.remote_python = "/nonexistent/python3"
    with pytest.raises(PrerequisiteMissing, match="python3 not found"):
        host.start()


@needs_root
def test_transport_death_reconnects_once_for_idempotent_ops(make_host):
    host = make_host()
    host.start()
    host._client.get_transport().close()  # the SSH connection drops
    assert host.call("ping") == {"pong": True}
    host._client.get_transport().close()
    with pytest.raises(HostUnreachable, match="agent was restarted"):
        host.call("bind", address="0000:00:03.0")
    assert host.call("ping") == {"pong": True}  # the restarted agent serves


def test_agent_command_quotes_once():
    host = SSHHost(HostSpec(name="h", kind="ssh", address="h", become="sudo"))
    host.remote_python = "/opt/my python/bin/python3"
    command = host.agent_command("/var/cache/nictest/agent/0123456789abcdef")
    assert command == (
        "cd /var/cache/nictest/agent/0123456789abcdef 2>/dev/null || exit 3; "
        "exec sudo -n '/opt/my python/bin/python3' -m nictest.agent --ssh-connection \"$SSH_CONNECTION\""
    )


CONTROLLER_SIDE = {"hosts", "lab", "plugin", "cli", "bench", "report", "inventory"}


def test_agent_files_leave_out_controller_modules():
    files = agent_files()
    names = [rel for rel, _ in files]
    assert "nictest/agent/server.py" in names and "nictest/errors.py" in names
    for rel in names:
        top = rel.split("/")[1]
        assert top.removesuffix(".py") not in CONTROLLER_SIDE, rel
        assert "__pycache__" not in rel


def test_what_is_uploaded_never_imports_what_is_not():
    """Every module shipped to a host imports only shipped nictest modules (an import of a
    controller-side package would fail on the host the first time that op runs)."""
    import ast
    for rel, path in agent_files():
        if not rel.endswith(".py"):
            continue
        package = rel.rsplit("/", 1)[0].replace("/", ".")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] + [f"{module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                if parts[0] == "nictest" and len(parts) > 1:
                    assert parts[1] not in CONTROLLER_SIDE, f"{rel} imports {target}, which is never uploaded"


# --- the shared client logic, on LocalHost -----------------------------------

@needs_root
def test_local_agent_killed_idempotent_op_is_retried_others_refused():
    with LocalHost(HostSpec(name="local", kind="local", nics=())) as host:
        host.start()
        host._stream.proc.kill()
        assert host.call("ping") == {"pong": True}
        host._stream.proc.kill()
        with pytest.raises(HostUnreachable, match="agent was restarted"):
            host.call("unbind", address="0000:00:03.0")
        assert host.call("ping") == {"pong": True}


@needs_root
def test_call_timeout_names_op_and_skips_the_late_reply():
    with LocalHost(HostSpec(name="local", kind="local", nics=())) as host:
        host.start()
        stream = host._stream
        gate = threading.Event()
        real_read = stream.read

        def slow_read(timeout):
            if not gate.is_set():
                raise TimeoutError  # as if the agent were stuck
            return real_read(timeout)

        stream.read = slow_read
        with pytest.raises(HostUnreachable, match="no reply to 'ping' within 0.2s"):
            host.call("ping", timeout=0.2)
        gate.set()
        assert host.call("hello")["agent_version"]  # the stale ping reply was skipped


def test_connect_picks_transport_by_kind():
    with pytest.raises(InventoryError, match="unknown kind"):
        hosts.connect(HostSpec(name="x", kind="carrier-pigeon"))
    if os.geteuid() == 0:
        with hosts.connect(HostSpec(name="local", kind="local", nics=())) as host:
            assert isinstance(host, LocalHost) and host.info["agent_version"]


@needs_root
def test_resident_agent_through_a_real_sshd(make_host, tmp_path, monkeypatch):
    """Two CLI-style hosts reach one resident agent over sshd's direct-streamlocal channel; each
    is served under its own SSH session, read from the kernel; closing one leaves the other served."""
    path = str(tmp_path / "agent.sock")
    monkeypatch.setattr(SSHHost, "resident_socket", lambda self: path)  # not this machine's /run
    first = make_host()
    first.resident = True
    info = first.start()
    try:
        assert info["resident"] is True, info
        assert (info["session_ip"], info["session_local"]) == ("127.0.0.1", "127.0.0.1")
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        second = make_host()
        second.resident = True
        assert second.start()["pid"] == info["pid"]  # the running agent, nothing started
        first.close()
        assert first.exit_status == 0
        assert second.call("ping") == {"pong": True}
        assert isinstance(second.call("status", timeout=60)["devices"], list)
        second.close()
    finally:
        os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 20
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(path), "the resident agent left its socket behind at SIGTERM"


# --- the kept connection (hosts/mux.py) -------------------------------------

def test_control_persist_is_read_from_the_environment(monkeypatch):
    from nictest.hosts import mux

    monkeypatch.delenv(mux.PERSIST_ENV, raising=False)
    assert mux.persist_seconds() == mux.DEFAULT_PERSIST
    monkeypatch.setenv(mux.PERSIST_ENV, "0")
    assert mux.persist_seconds() == 0
    spec = HostSpec(name="x", kind="ssh", address="192.0.2.1")
    assert hosts._through_keeper(spec) is None  # keeping off: nothing started, nothing made
    for bad in ("soon", "-1", "1e9"):
        monkeypatch.setenv(mux.PERSIST_ENV, bad)
        with pytest.raises(InventoryError, match=f"{mux.PERSIST_ENV}=.*expected seconds"):
            mux.persist_seconds()


def test_keeper_sockets_live_in_a_directory_only_the_user_may_enter(tmp_path, monkeypatch, caplog):
    from nictest.hosts import mux

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert mux.runtime_dir() == tmp_path / "nictest"
    assert (tmp_path / "nictest").stat().st_mode & 0o777 == 0o700
    (tmp_path / "nictest").chmod(0o755)
    with pytest.raises(PrerequisiteMissing, match=r"mode 0700.*chmod 700"):
        mux.runtime_dir()
    spec = HostSpec(name="x", kind="ssh", address="a", nics=("0000:00:03.0",),
                    links=(("0000:00:03.0", "0000:00:04.0"),))
    assert mux.spec_from_json(mux.spec_to_json(spec)) == spec
    other = HostSpec(name="x", kind="ssh", address="b")
    (tmp_path / "nictest").chmod(0o700)
    assert mux.socket_path(spec) != mux.socket_path(other) and mux.socket_path(spec) == mux.socket_path(spec)
    (tmp_path / "nictest").chmod(0o755)
    with caplog.at_level("WARNING"):  # a call goes ahead without a kept connection, saying why
        assert hosts._through_keeper(spec) is None
    assert "no kept connection" in caplog.text and "chmod 700" in caplog.text
    (tmp_path / "nictest").chmod(0o700)
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert mux.runtime_dir() == Path(f"/tmp/nictest-{os.getuid()}")  # room for the socket's name


@pytest.fixture
def short_runtime_dir(monkeypatch):
    """XDG_RUNTIME_DIR short enough for keeper sockets (pytest's temp paths are long)."""
    import tempfile

    path = tempfile.mkdtemp(prefix="nt-")
    monkeypatch.setenv("XDG_RUNTIME_DIR", path)
    yield Path(path) / "nictest"
    shutil.rmtree(path, ignore_errors=True)


def test_a_keeper_that_cannot_connect_says_why_and_leaves_nothing(home, tmp_path, monkeypatch, sshd,
                                                                 short_runtime_dir):
    """The first kept call starts the keeper process; its failure comes back typed, as a direct
    connection's would: an unknown host key, a closed port. No socket stays behind."""
    from nictest.hosts import mux

    monkeypatch.delenv(mux.PERSIST_ENV, raising=False)
    unknown = tmp_path / "empty_known_hosts"
    unknown.write_text("")
    cases = [(HostSpec(name="loop", kind="ssh", address="127.0.0.1", port=sshd.port, user="root",
                       identity=str(sshd.client_key_path), known_hosts=str(unknown), connect_timeout=5.0),
              HostKeyError, "host key of 127.0.0.1 port .* is not known"),
             (HostSpec(name="closed", kind="ssh", address="127.0.0.1", port=free_port(), user="root",
                       identity=str(sshd.client_key_path), known_hosts=str(unknown), connect_timeout=5.0),
              HostUnreachable, "cannot connect to 127.0.0.1 port")]
    for spec, error, message in cases:
        with pytest.raises(error, match=message):
            hosts.connect(spec, resident=True, kept=True)
        path = mux.socket_path(spec)
        assert path.parent == short_runtime_dir
        assert not path.exists()
        assert path.with_suffix(".log").exists()  # the keeper's own log says what it did


@needs_root
def test_kept_connection_serves_each_call_as_its_own_resident_client(make_host, tmp_path, monkeypatch):
    """The keeper holds one SSH connection; each call through it is a client of its own at the
    resident agent (its own session, and its own end); the keeper leaves once idle."""
    from nictest.hosts import mux

    monkeypatch.setattr(SSHHost, "resident_socket", lambda self: str(tmp_path / "agent.sock"))
    host = make_host()
    host.resident_channel().close()  # what the keeper process does before it answers
    path = tmp_path / "keeper.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    keeper = mux.Keeper(host, listener, path, persist=1.0)
    serving = threading.Thread(target=keeper.serve)
    serving.start()
    monkeypatch.setattr(mux, "socket_path", lambda spec: path)
    # Never a keeper process here: it would start a resident agent in this machine's /run.
    monkeypatch.setattr(mux.MuxHost, "_start_keeper", lambda self: pytest.fail("the in-test keeper was gone"))
    info = {}
    try:
        first = mux.MuxHost(host.spec)
        info = first.start()
        assert info["resident"] is True and info["session_ip"] == "127.0.0.1", info
        assert not first.started_keeper  # it found the keeper running
        second = mux.MuxHost(host.spec)
        assert second.start()["pid"] == info["pid"]
        assert keeper.clients == 2
        first.close()
        assert first.exit_status == 0  # the agent ran the client's hooks and closed
        assert second.call("ping") == {"pong": True}
        assert isinstance(second.call("status", timeout=60)["devices"], list)
        # A kept connection that is dead before paramiko knows it (the host rebooted): the
        # channel open fails, and the call gets a fresh connection instead of an error.
        real_channel, failures = host.resident_channel, []

        def stale_once():
            if not failures:
                failures.append(host._client)
                raise HostUnreachable("loop: no answer to opening the socket within 5s")
            return real_channel()

        monkeypatch.setattr(host, "resident_channel", stale_once)
        third = mux.MuxHost(host.spec)
        assert third.start()["pid"] == info["pid"]
        assert failures and host._client is not failures[0]  # a new connection served it
        assert third.call("ping") == {"pong": True}
        third.close()
        second.close()
        serving.join(timeout=30)  # idle for its persist time: it leaves
        assert not serving.is_alive() and keeper.clients == 0
        assert not path.exists(), "the keeper left its socket behind"
        assert host._client is None  # and closed its SSH connection
    finally:
        keeper.stop()
        serving.join(timeout=10)
        if info:
            os.kill(info["pid"], signal.SIGTERM)


def test_naming_a_hosts_keeper_does_not_import_paramiko():
    """Every CLI call names its host's keeper (mux.socket_path): that must not cost paramiko's
    import, which only the keeper process and per-call connections need."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from nictest.hosts import mux\n"
            "from nictest.inventory import HostSpec\n"
            "path = mux.socket_path(HostSpec(name='h', kind='ssh', address='192.0.2.1'))\n"
            "assert path.name.endswith('.sock'), path\n"
            "print('paramiko' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


class ScriptedStream(AgentStream):
    """A fake agent. With `answers`, it answers hello and session and closes its output on the
    next request; without, its output is closed from the start (it never answers). Its stderr
    gives `stderr_line` once `release` is set (default: once it is killed, i.e. after the Host
    read the exit status `status`), and `finished` is set when the reader comes back for more,
    i.e. after it has taken the line."""

    def __init__(self, stderr_line: bytes, release: threading.Event | None = None,
                 wait_before_closing: threading.Event | None = None, answers: bool = True,
                 status: int = 1) -> None:
        self.stderr_line, self.answers, self.status = stderr_line, answers, status
        self.killed = threading.Event()
        self.release = release or self.killed
        self.wait_before_closing = wait_before_closing
        self.written = threading.Event()  # set by the first request: the Host has attached it
        self.finished = threading.Event()
        self.replies = bytearray()

    def write(self, data: bytes) -> None:
        for line in data.splitlines():
            request = json.loads(line)
            if self.answers and request["op"] in ("hello", "session"):
                result = {"ops": ["hello", "session", "ping"]} if request["op"] == "hello" else {}
                self.replies += json.dumps({"id": request["id"], "ok": True, "result": result}).encode() + b"\n"
        self.written.set()

    def read(self, timeout: float) -> bytes:
        if self.replies:
            data, self.replies[:] = bytes(self.replies), b""
            return data
        if self.wait_before_closing is not None:
            assert self.wait_before_closing.wait(5)
        return b""  # the agent's output closed

    def read_stderr(self) -> bytes:
        self.release.wait()
        if self.stderr_line is None:
            self.finished.set()
            return b""
        line, self.stderr_line = self.stderr_line, None
        return line

    def close_input(self) -> None:
        pass

    def wait(self, timeout: float) -> int | None:
        return self.status

    def kill(self) -> None:
        self.killed.set()


class LateStderrHost(Host):
    """An agent that exits 127 before answering, whose stderr line ("sudo: not found") comes
    only when the stream is closed: the exit status overtakes the stderr reader, as it did on
    a CI machine."""

    def _open_stream(self) -> AgentStream:
        return ScriptedStream(b"sh: 1: sudo: not found\n", answers=False, status=127)


def test_an_exit_status_ahead_of_its_stderr_still_names_the_missing_program():
    with pytest.raises(PrerequisiteMissing, match="sudo not found; install sudo") as info:
        LateStderrHost(HostSpec(name="late", kind="local")).start()
    assert "sudo: not found" in str(info.value)


def test_an_old_agents_last_stderr_lines_are_not_shown_as_the_new_ones():
    """Lost during a call, reconnected, lost again: the message quotes the second agent's
    stderr, although the first agent's reader delivers its last line after the reconnect."""
    second = ScriptedStream(b"second agent: out of memory\n")
    first = ScriptedStream(b"first agent: restored what it held\n", release=second.written)
    second.wait_before_closing = first.finished  # the old reader has added its line by then
    streams = [first, second]

    class TwiceLostHost(Host):
        def _open_stream(self) -> AgentStream:
            return streams.pop(0)

    host = TwiceLostHost(HostSpec(name="twice", kind="local"))
    host.start()
    with pytest.raises(HostUnreachable, match="lost the agent again") as info:
        host.call("ping")
    assert "second agent: out of memory" in str(info.value)
    assert "first agent" not in str(info.value)
