"""A kept SSH connection for CLI calls: what OpenSSH's ControlMaster/ControlPersist do for ssh(1).

A `nictest status|bind|unbind|restore` call costs an SSH handshake (key exchange, host-key
check, key authentication) and paramiko's import before its one short op. The first such
call for a host starts a keeper: a small controller-side process (this module, run as
`python -m nictest.hosts.mux`) that holds one SSH connection to the host and listens on a
Unix socket of the controller's user. Each later CLI call connects to that socket, and
the keeper opens a direct-streamlocal channel of its connection to the host's resident
agent (agent/resident.py) for it and relays bytes both ways; the call pays no handshake.

Nothing about the agent's safety changes: every CLI call is still a client of its own at
the resident agent (its own session, allow-list, lease and dead man's switch). A call
that exits or is killed closes its local socket; the keeper closes that client's channel
(EOF), and the agent restores what the client held. The keeper dying closes its SSH
connection, and with it every client's channel, the same way.

The keeper's socket lives in a directory only the user may enter ($XDG_RUNTIME_DIR/nictest,
else ~/.cache/nictest/mux, mode 0700), named by a hash of the host's spec and the agent code,
and the keeper serves only connections of its own uid (SO_PEERCRED). It leaves after
NICTEST_CONTROL_PERSIST seconds without a client (default 600; 0 turns keeping off: each
call makes its own connection), when its SSH connection dies while no call uses it, or at
SIGTERM (`nictest disconnect --host H`). A call that finds the connection dead (the host
rebooted and paramiko has not noticed yet) gets a fresh one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from nictest import errors
from nictest.hosts.base import AgentStream, Host
from nictest.inventory import HostSpec

log = logging.getLogger("nictest.hosts.mux")

PERSIST_ENV = "NICTEST_CONTROL_PERSIST"
DEFAULT_PERSIST = 600.0
ACCEPT_TICK = 1.0  # how often the keeper looks at its connection, the idle clock and SIGTERM
STOP_WAIT = 130.0  # seconds `disconnect` waits: the agent restores what each client held (its STOP_WAIT)
SOCKET_DIR_MAX = 80  # longer directories leave no room for "/<key>.sock" within sun_path
LOG_LIMIT = 1 << 20  # the keeper's log is started afresh past this size
# Errors a keeper cannot get past by trying again directly: the direct path would fail the same way.
FINAL_ERRORS = ("HostKeyError", "HostUnreachable", "PrerequisiteMissing", "InventoryError")


class MuxUnavailable(errors.HostUnreachable):
    """No keeper for this host (it could not reach the resident agent): connect directly."""


def persist_seconds() -> float:
    """How long a keeper stays without clients; 0: no keeper."""
    text = os.environ.get(PERSIST_ENV, "").strip()
    if not text:
        return DEFAULT_PERSIST
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise errors.InventoryError(f"{PERSIST_ENV}={text!r}: expected seconds from 0 (no kept connection) to 86400")
    return value


def runtime_dir() -> Path:
    """The user's private directory for keeper sockets; refused if others may enter it."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "nictest" if base and os.path.isdir(base) else Path.home() / ".cache" / "nictest" / "mux"
    if len(str(path)) > SOCKET_DIR_MAX:  # a Unix socket's path has room for 107 bytes
        path = Path(f"/tmp/nictest-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise errors.PrerequisiteMissing(
            f"{path} (kept SSH connections) must belong to uid {os.getuid()} with mode 0700, "
            f"it is uid {info.st_uid} mode {info.st_mode & 0o777:o}: `chmod 700 {path}`, or set {PERSIST_ENV}=0")
    return path


def spec_to_json(spec: HostSpec) -> str:
    return json.dumps(dataclasses.asdict(spec), sort_keys=True)


def spec_from_json(text: str) -> HostSpec:
    fields = json.loads(text)
    if fields.get("nics") is not None:
        fields["nics"] = tuple(fields["nics"])
    fields["links"] = tuple(tuple(pair) for pair in fields.get("links", ()))
    return HostSpec(**fields)


def socket_path(spec: HostSpec) -> Path:
    """One keeper per host spec and agent code: new code on the controller gets a new keeper
    (and, through it, the resident agent of that code)."""
    from nictest.hosts.bundle import AgentBundle  # not ssh.py: no paramiko import in a CLI call

    key = hashlib.sha256(f"{spec_to_json(spec)}\0{AgentBundle.read().digest}".encode()).hexdigest()[:16]
    return runtime_dir() / f"{key}.sock"


# --- the CLI's side ----------------------------------------------------------------------
class SocketStream(AgentStream):
    """A client connection through the keeper: the resident agent's, so no stderr and no exit
    status; the connection closing after our EOF is the agent having run this client's hooks."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._eof = threading.Event()

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        if not data:
            self._eof.set()
        return data

    def read_stderr(self) -> bytes:
        return b""  # the keeper relays stdout only; the agent logs on the host

    def close_input(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while not self._eof.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self.read(remaining)  # replies nobody waits for any more, then EOF
            except TimeoutError:
                return None
            except OSError:
                break
        return 0

    def kill(self) -> None:
        self.sock.close()


class MuxHost(Host):
    """A host reached through its keeper; starts the keeper when none answers."""

    def __init__(self, spec: HostSpec) -> None:
        super().__init__(spec)
        self.path = socket_path(spec)
        self.started_keeper = False  # this object started the keeper (the first call)

    def describe(self) -> str:
        return f"{self.spec.address or self.spec.lab or self.name} (through the kept connection {self.path})"

    def _open_stream(self) -> SocketStream:
        with _locked(self.path):
            sock = _connect(self.path)
            if sock is None:
                self._start_keeper()
                sock = _connect(self.path)
                if sock is None:
                    raise MuxUnavailable(f"{self.name}: the keeper said it listens on {self.path}, but nothing answers")
        return SocketStream(sock)

    def _start_keeper(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a keeper that died without cleaning up (we hold the lock)
        log_path = self.path.with_suffix(".log")
        if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
            log_path.unlink()
        package_root = Path(__file__).resolve().parent.parent.parent
        with open(log_path, "ab") as log_file:
            keeper = subprocess.Popen(
                [sys.executable, "-m", "nictest.hosts.mux", str(self.path), str(persist_seconds())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, cwd=package_root,
                start_new_session=True)  # not in the CLI's process group: a ^C of this call leaves it
        keeper.stdin.write(spec_to_json(self.spec).encode())
        keeper.stdin.close()
        answer = _read_line(keeper.stdout, self.spec.connect_timeout + self.spec.call_timeout)
        keeper.stdout.close()
        if answer is None:
            keeper.kill()
            keeper.wait()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise MuxUnavailable(f"{self.name}: the connection keeper did not answer (status {keeper.returncode}); "
                                 f"its log {log_path} ends: {' | '.join(tail) or '(nothing)'}")
        if answer.get("ok"):
            self.started_keeper = True
            return
        keeper.wait()
        name, message = answer.get("type", ""), answer.get("message", "")
        if name in FINAL_ERRORS:
            raise errors.by_name(name)(message)
        raise MuxUnavailable(f"{self.name}: no kept connection ({message})")


@contextlib.contextmanager
def _locked(path: Path):
    """The keeper's start lock: one caller at a time finds, or else starts, the keeper."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None


def _read_line(pipe, timeout: float) -> dict | None:
    """The keeper's one-line answer, or None if it closed or stayed silent past `timeout`."""
    deadline, data = time.monotonic() + timeout, b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
            return None
        chunk = os.read(pipe.fileno(), 4096)
        if not chunk:
            return None
        data += chunk
    try:
        answer = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def stop_keeper(spec: HostSpec) -> bool:
    """SIGTERM to the host's keeper (`nictest disconnect`); False when none runs."""
    path = socket_path(spec)
    with _locked(path):
        sock = _connect(path)
        if sock is None:
            return False
        with sock:
            pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        gone = os.pidfd_open(pid)  # readable once the keeper has exited
        try:
            os.kill(pid, signal.SIGTERM)
            # It closes its clients' channels and removes its socket as it leaves: the next call starts afresh.
            if not select.select([gone], [], [], STOP_WAIT)[0]:
                raise errors.HostUnreachable(f"{spec.name}: the connection keeper (pid {pid}) did not leave "
                                             f"within {STOP_WAIT:g}s of SIGTERM; `kill {pid}`")
        finally:
            os.close(gone)
        return True


# --- the keeper's side -------------------------------------------------------------------
class Keeper:
    """Holds `host`'s SSH connection and relays each accepted client to the resident agent."""

    def __init__(self, host, listener: socket.socket, path: Path, persist: float) -> None:
        self.host, self.listener, self.path, self.persist = host, listener, path, persist
        self.clients = 0
        self._count = threading.Lock()
        self._open = threading.Lock()  # one channel open (and resident start) at a time
        self._stop = threading.Event()
        self._idle_since = time.monotonic()
        self._inode = os.stat(path).st_ino  # ours to remove at the end, not a successor's

    def stop(self) -> None:
        """Leave at the next tick (SIGTERM's handler)."""
        self._stop.set()

    def serve(self) -> None:
        try:
            while not self._stop.is_set():
                if not select.select([self.listener], [], [], ACCEPT_TICK)[0]:
                    reason = self._reason_to_leave()
                    if reason and self._leave_unless_called(reason):
                        return
                    continue
                self._accept()
        finally:
            self._close()

    def _connection_alive(self) -> bool:
        return self.host.is_connected()

    def _reason_to_leave(self) -> str | None:
        """Why to leave now, with no client: the connection died, or nobody called for a while."""
        with self._count:
            if self.clients:
                return None
            if not self._connection_alive():
                return "the SSH connection ended"
            if time.monotonic() - self._idle_since >= self.persist:
                return f"no client for {self.persist:g}s"
            return None

    def _leave_unless_called(self, reason: str) -> bool:
        """Leave, unless a caller connected meanwhile (it holds the lock while it connects)."""
        with _locked(self.path):
            if select.select([self.listener], [], [], 0)[0]:
                return False
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            log.info("%s: leaving", reason)
            return True

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid():
            log.warning("refused a connection of uid %d", uid)
            conn.close()
            return
        with self._count:
            self.clients += 1
        threading.Thread(target=self._relay, args=(conn,), daemon=True, name="nictest-mux-client").start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            try:
                with self._open:
                    channel = self._resident_channel()
            except errors.NictestError as exc:
                # The client's first request is hello; an id-less error reply is how the agent
                # says "could not read your request", and the client raises it typed.
                reply = {"id": None, "ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                return
            _pump(conn, channel)
        finally:
            conn.close()
            with self._count:
                self.clients -= 1
                self._idle_since = time.monotonic()

    def _resident_channel(self):
        try:
            return self.host.resident_channel()
        except errors.HostUnreachable as exc:
            # The kept connection may be dead without paramiko knowing yet (the host rebooted):
            # one fresh connection, as a call without a keeper would make.
            log.info("no channel on the kept connection (%s): connecting again", exc)
            self.host._close_transport()
            return self.host.resident_channel()

    def _close(self) -> None:
        self.listener.close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        self.host.close()  # closes every client's channel: the agent runs their hooks


def _pump(conn: socket.socket, channel) -> None:
    """Bytes both ways until both ends are done; a client that is gone ends its channel's input."""
    def upstream() -> None:
        _copy(conn.recv, channel.sendall)
        with contextlib.suppress(OSError, EOFError):
            channel.shutdown_write()  # the agent's EOF: it runs this client's hooks

    sender = threading.Thread(target=upstream, daemon=True, name="nictest-mux-up")
    sender.start()
    _copy(channel.recv, conn.sendall)
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
    sender.join()
    channel.close()


def _copy(recv, send) -> None:
    """Until EOF or an error on either side (a killed client, a dead channel): both end the same way."""
    try:
        while True:
            data = recv(65536)
            if not data:
                return
            send(data)
    except OSError:
        return


def main(argv: list[str]) -> int:
    """`python -m nictest.hosts.mux SOCKET PERSIST` with the spec's JSON on stdin: connect,
    answer one JSON line on stdout, then serve until idle, disconnected or stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s: %(message)s")
    path, persist = Path(argv[0]), float(argv[1])
    answer = sys.stdout
    try:
        spec = spec_from_json(sys.stdin.read())
        host = _reach(spec)
    except errors.NictestError as exc:
        answer.write(json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}) + "\n")
        return 1
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(16)
    keeper = Keeper(host, listener, path, persist)
    signal.signal(signal.SIGTERM, lambda *_: keeper.stop())
    log.info("%s: keeping %s for %gs without clients", spec.name, host.describe(), persist)
    answer.write(json.dumps({"ok": True, "pid": os.getpid()}) + "\n")
    answer.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # the CLI that started us stops reading: nothing more goes there
    keeper.serve()
    return 0


def _reach(spec: HostSpec):
    """The host's SSH connection with its resident agent up (uploaded and started if needed)."""
    if spec.kind == "qemu":
        from nictest.hosts.qemu import QemuLabHost as cls
    elif spec.kind == "ssh":
        from nictest.hosts.ssh import SSHHost as cls
    else:
        raise MuxUnavailable(f"{spec.name}: a {spec.kind} host has no SSH connection to keep")
    host = cls(spec)
    try:
        host.check_up()
        possible = host.resident_possible()  # connects: a failure here is final
    except BaseException:
        host.close()
        raise
    if not possible:
        host.close()
        raise MuxUnavailable(f"{spec.name}: no resident agent for a non-root login without become = \"sudo\"")
    try:
        host.resident_channel().close()  # proves the agent answers before any client counts on it
    except (errors.HostKeyError, errors.PrerequisiteMissing):
        host.close()
        raise
    except errors.NictestError as exc:
        host.close()
        raise MuxUnavailable(f"{spec.name}: connected, but the resident agent did not answer: {exc}") from exc
    except BaseException:
        host.close()
        raise
    return host

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
