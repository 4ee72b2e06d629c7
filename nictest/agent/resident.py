"""The resident agent: one long-lived agent per host for CLI calls, on a Unix socket.

A per-call agent costs a Python start and the op modules' imports on every
`nictest status|bind|unbind|restore`. The resident agent pays them once: it listens
on the socket the controller names (hosts/ssh.py: /run/nictest/agent-<bundle digest>.sock,
so new code gets a new socket and a new daemon; an old one leaves after IDLE_EXIT
seconds without clients) and the controller reaches it
through its SSH connection as a direct-streamlocal channel (hosts/streamlocal.py),
so a call starts nothing on the host.

Every connection is a client of its own: its own Agent (services, hooks, lease,
session op, allow-list), so the dead man's switch is the per-call agent's, per
client: the connection closing (the CLI exits, is killed, or its link dies within
the lease) restores what that client held and nothing else. The journal records
the client's controller (the session op) and this process as the owner; the
per-device flocks are taken per client, so two clients race for a NIC exactly as
two processes do. Ops run one at a time in the process (one shared lock; ping and
heartbeat excepted).

Who connected: sshd relays the channel, so the client's SSH session is read from
the kernel (sshpeer.py) and takes the place of $SSH_CONNECTION; a connection whose
session cannot be told for certain is closed at once, and the controller falls
back to a per-call agent.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from typing import Callable, Dict, List, Optional

from nictest.agent import sshpeer
from nictest.agent.ops import Op
from nictest.agent.server import Agent

log = logging.getLogger("nictest.agent.resident")

IDLE_EXIT = 600.0  # seconds without a client before the daemon leaves
ACCEPT_TICK = 1.0  # how often the accept loop looks at the idle clock and the stop flag
LOG_LIMIT = 1 << 20  # the log is started afresh when it has grown past this
REFUSE_WAIT = 5.0  # seconds a refused client gets to read the refusal and leave
STOP_WAIT = 120.0  # seconds each client's shutdown (its restores) may take at SIGTERM


class ResidentAgent:
    """Accepts clients on `listener` and serves each with an Agent of its own on a thread."""

    def __init__(self, listener: socket.socket, broken_op_modules: Optional[Dict[str, str]] = None,
                 identify: Callable[[socket.socket], Optional[str]] = sshpeer.ssh_connection_of,
                 idle_exit: float = IDLE_EXIT, ops: Optional[Dict[str, Op]] = None) -> None:
        self.listener = listener
        self.ops = ops  # None: every registered op
        self.broken_op_modules = dict(broken_op_modules or {})
        self.identify = identify  # the client's "$SSH_CONNECTION", or None: refuse it
        self.idle_exit = idle_exit
        self.op_lock = threading.RLock()
        self.stopping = threading.Event()
        self._clients: Dict[threading.Thread, socket.socket] = {}
        self._clients_lock = threading.Lock()
        self._idle_since = time.monotonic()
        self.served = 0  # clients accepted and served

    def serve_forever(self) -> int:
        """Accept until stopped or idle for idle_exit seconds; then end every client's session."""
        self.listener.settimeout(ACCEPT_TICK)
        try:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.listener.accept()
                except socket.timeout:
                    if self._idle_for() >= self.idle_exit:
                        log.info("no client for %gs: leaving", self.idle_exit)
                        break
                    continue
                except OSError as exc:
                    if self.stopping.is_set():
                        break
                    log.error("accept failed: %s", exc)
                    time.sleep(ACCEPT_TICK)  # e.g. EMFILE: give the clients a moment to finish
                    continue
                self._start_client(conn)
        finally:
            self._stop_clients()
        return 0

    def stop(self) -> None:
        """From a signal handler or another thread: end every session (their hooks restore) and leave."""
        self.stopping.set()

    def _idle_for(self) -> float:
        with self._clients_lock:
            if self._clients:
                return 0.0
            return time.monotonic() - self._idle_since

    def _start_client(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        thread = threading.Thread(target=self._serve_client, args=(conn,), daemon=True,
                                  name=f"resident-client-{self.served}")
        self.served += 1
        with self._clients_lock:
            self._clients[thread] = conn
        thread.start()

    def _serve_client(self, conn: socket.socket) -> None:
        try:
            ssh_connection = self.identify(conn)
            if ssh_connection is None:
                _refuse(conn, f"refused a client whose SSH session cannot be identified (peer pid "
                              f"{_peer_pid(conn)}): the resident agent serves only clients that come "
                              "through sshd; use a per-call agent")
                return
            fields = ssh_connection.split()
            agent = Agent(ops=self.ops, session_ip=fields[0], session_local=fields[2], op_lock=self.op_lock,
                          broken_op_modules=self.broken_op_modules)
            log.info("client from %s", ssh_connection)
            infile, outfile = conn.makefile("rb", buffering=0), conn.makefile("wb")
            try:
                agent.serve(infile, outfile)
            except OSError as exc:  # the client went away while we answered it; serve ran its hooks
                log.info("client from %s gone: %s", ssh_connection, exc)
            finally:
                for stream in (infile, outfile):
                    try:
                        stream.close()
                    except OSError:
                        pass
        except Exception:  # noqa: BLE001 - one client's failure must not end the others
            log.exception("client failed")
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self._clients_lock:
                self._clients.pop(threading.current_thread(), None)
                self._idle_since = time.monotonic()

    def _stop_clients(self) -> None:
        """Each client's reader sees EOF, its serve ends and runs its shutdown hooks."""
        with self._clients_lock:
            clients = list(self._clients.items())
        for _thread, conn in clients:
            try:
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        for thread, _conn in clients:
            thread.join(STOP_WAIT)
            if thread.is_alive():
                log.error("%s still shutting down after %gs", thread.name, STOP_WAIT)


def _refuse(conn: socket.socket, why: str) -> None:
    """One error reply (id null: the request was never read) and the connection closed cleanly."""
    log.warning("%s", why)
    reply = {"id": None, "ok": False, "error": {"type": "RefusedError", "message": why}}
    conn.settimeout(REFUSE_WAIT)
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):  # until the client's EOF: closing with unread input would reset
            pass
    except OSError:
        pass


def _peer_pid(conn: socket.socket) -> Optional[int]:
    try:
        return sshpeer.peer_pid(conn)
    except OSError:
        return None


# --- starting the daemon ----------------------------------------------------------
def start(path: str, broken_op_modules: Dict[str, str], out) -> int:
    """`python3 -m nictest.agent --resident PATH`: make sure a resident agent serves PATH.

    Prints one line and returns 0 once one does (this call's daemon, or one already
    running); the daemon itself runs on in a child process of its own session.
    """
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first calls at once start one daemon
        if answering(path):
            print(f"resident agent already serving {path}", file=out, flush=True)
            return 0
        listener = _listen(path)
        inode = os.stat(path).st_ino
        pid = os.fork()
        if pid:
            listener.close()
            print(f"resident agent {pid} serving {path}", file=out, flush=True)
            return 0
    # The child: its own session, off the SSH channel that started it.
    try:
        os.setsid()
        _detach(f"{path}.log")
        os.environ.pop("SSH_CONNECTION", None)  # the starting session's; each client brings its own
        resident = ResidentAgent(listener, broken_op_modules)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: resident.stop())
        log.info("pid %d serving %s", os.getpid(), path)
        try:
            resident.serve_forever()
        finally:
            _unlink_if_ours(path, inode, listener)
            log.info("pid %d left after %d client(s)", os.getpid(), resident.served)
    except BaseException:  # noqa: BLE001 - the child must never return into the caller's code
        log.exception("resident agent failed")
        os._exit(1)
    os._exit(0)


def answering(path: str) -> bool:
    """True if a process accepts connections on `path`; a refused one (its daemon died) is removed."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except FileNotFoundError:
        return False
    except ConnectionRefusedError:
        os.unlink(path)  # stale: nobody listens; we hold the start lock
        return False
    finally:
        probe.close()


def _listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # no moment in which another user could connect
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    # sshd connects as the login user: with become = "sudo" that is not root, but it is a user
    # who may run the agent as root anyway (passwordless sudo), so the socket is theirs alone.
    owner = int(os.environ.get("SUDO_UID", os.getuid()))
    if owner != os.getuid():
        os.chown(path, owner, -1)
    listener.listen(16)
    return listener


def _detach(log_path: str) -> None:
    """stdin from /dev/null, stdout and stderr to the log: the SSH channel closes with the parent."""
    try:
        if os.path.getsize(log_path) > LOG_LIMIT:
            os.unlink(log_path)
    except OSError:
        pass
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)
    handlers: List[logging.Handler] = logging.getLogger().handlers
    for handler in handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setFormatter(logging.Formatter("%(asctime)s nictest-agent %(levelname)s %(name)s: %(message)s"))


def _unlink_if_ours(path: str, inode: int, listener: socket.socket) -> None:
    """Remove the socket file unless a newer daemon bound the path since (another inode)."""
    listener.close()
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            log.warning("cannot remove %s: %s", path, exc)
