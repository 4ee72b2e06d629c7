"""The agent's request loop: one JSON object per line in, one per line out.

Every request gets exactly one reply, even a malformed one (id null when the id
cannot be read), and nothing the client sends stops the loop: only EOF,
SIGTERM/SIGHUP or an expired lease do, and all run the shutdown hooks first (the
dead man's switch that restores NICs when the controller goes away).

What the agent holds lives in its services (service.py: one per concern, each with
its close(), closed in a fixed order at shutdown: jobs, probes, ports, namespaces,
plain hooks, binding).

The lease: a TCP connection whose path died (a cut cable, a dead router) never
shows EOF, so while the agent holds something (a service holds something, or a
shutdown hook is registered) it
also gives up when it has been idle for `lease` seconds without a request. The
clock runs only between a reply and the next request: an op that takes longer
than the lease is the agent busy, not the controller gone. The controller sends
a cheap `heartbeat` when it has nothing else to say (hosts/base.py).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import signal
import threading
from typing import IO, Callable, ContextManager, Dict, List, Optional, Type, TypeVar, Union

from nictest import errors
from nictest.agent.ops import OPS, Op, load_op_modules
from nictest.agent.service import HOOKS_ORDER, Service

log = logging.getLogger("nictest.agent.server")

MAX_LINE = 1 << 20  # 1 MiB: no legitimate request is near this
DEFAULT_LEASE = 30.0  # seconds; the session op may set another (hosts.toml `lease`)
LEASE_RANGE = (1.0, 3600.0)
# Ops that touch no host state: answered without waiting for another client's op (resident.py).
LOCK_FREE_OPS = frozenset({"ping", "heartbeat"})


S = TypeVar("S", bound=Service)


class _Stop(Exception):
    """Raised by the signal handler to leave the loop through its `finally`."""


class Agent:
    def __init__(self, ops: Optional[Dict[str, Op]] = None, session_ip: Optional[str] = None,
                 session_local: Optional[str] = None, lease: float = DEFAULT_LEASE,
                 op_lock: Optional[ContextManager] = None, broken_op_modules: Optional[Dict[str, str]] = None) -> None:
        self.ops = OPS if ops is None else ops
        self.session_ip = session_ip        # the controller's address ($SSH_CONNECTION field 1)
        self.session_local = session_local  # this host's address of the session (field 3)
        self.broken_op_modules: Dict[str, str] = dict(broken_op_modules or {})
        # Shared by every client of one resident agent (resident.py): one op, or one client's
        # shutdown, at a time in the process. A session agent has only itself to wait for.
        self.resident = op_lock is not None
        self._op_lock = op_lock if op_lock is not None else contextlib.nullcontext()
        self._hooks: List[Callable[[], object]] = []
        self._services: Dict[type, Service] = {}
        self.lease = lease
        self.lease_expired = False

    # --- services ------------------------------------------------------------
    def service(self, cls: Type[S]) -> S:
        """This agent's instance of service `cls`, created on first use."""
        existing = self._services.get(cls)
        if existing is None:
            existing = self._services[cls] = cls(self)
        return existing  # type: ignore[return-value]

    # --- lease ---------------------------------------------------------------
    def set_lease(self, seconds: float) -> None:
        low, high = LEASE_RANGE
        if not low <= seconds <= high:
            raise errors.ProtocolError(f"lease must be {low:g}-{high:g} seconds, got {seconds!r}; "
                                       "set `lease` for the host in hosts.toml within that range")
        self.lease = float(seconds)

    def lease_armed(self) -> bool:
        """True while silence from the controller would end the session: the agent holds something."""
        return bool(self._hooks) or any(service.holds() for service in self._services.values())

    # --- dead man's switch -------------------------------------------------
    def on_shutdown(self, fn: Callable[[], object]) -> Callable[[], object]:
        """Run `fn` when the controller goes away; hooks run newest first."""
        self._hooks.append(fn)
        return fn

    def cancel_shutdown(self, fn: Callable[[], object]) -> None:
        """Forget a hook whose work was done normally (e.g. the NIC was restored)."""
        if fn in self._hooks:
            self._hooks.remove(fn)

    def run_shutdown_hooks(self) -> None:
        """Close every service in close_order, the plain hooks (newest first) at HOOKS_ORDER."""
        with self._op_lock:
            self._close_services()

    def _close_services(self) -> None:
        hooks_done = False
        for service in sorted(self._services.values(), key=lambda s: s.close_order):
            if not hooks_done and service.close_order >= HOOKS_ORDER:
                self._run_hooks()
                hooks_done = True
            try:
                service.close()
            except Exception:  # noqa: BLE001 - one failed close must not skip the others (the restore)
                log.exception("closing service %s failed", type(service).__name__)
        if not hooks_done:
            self._run_hooks()

    def _run_hooks(self) -> None:
        while self._hooks:
            hook = self._hooks.pop()
            try:
                hook()
            except Exception:  # noqa: BLE001 - one failed restore must not skip the others
                log.exception("shutdown hook %r failed", hook)

    # --- protocol ----------------------------------------------------------
    def handle_line(self, line: bytes) -> dict:
        """The reply to one request line (without its newline)."""
        try:
            request = json.loads(line)
        except ValueError as exc:
            return _error(None, errors.ProtocolError(f"request is not JSON: {exc}"))
        if not isinstance(request, dict):
            return _error(None, errors.ProtocolError("request must be a JSON object {id, op, args}"))
        request_id = request.get("id")
        if not isinstance(request_id, int) or isinstance(request_id, bool):
            return _error(None, errors.ProtocolError(f"request id must be an integer, got {request_id!r}"))
        try:
            return {"id": request_id, "ok": True, "result": self.dispatch(request)}
        except errors.NictestError as exc:
            return _error(request_id, exc)
        except _Stop:
            raise
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            log.exception("op %r failed unexpectedly", request.get("op"))
            return _error(request_id, errors.AgentError(f"{type(exc).__name__}: {exc}"))

    def dispatch(self, request: dict) -> object:
        name, args = request.get("op"), request.get("args", {})
        unknown_keys = set(request) - {"id", "op", "args"}
        if unknown_keys:
            raise errors.ProtocolError(f"unknown request key(s): {', '.join(sorted(unknown_keys))}")
        if not isinstance(name, str):
            raise errors.ProtocolError(f"op must be a string, got {name!r}")
        entry = self.ops.get(name)
        if entry is None:
            raise errors.ProtocolError(f"unknown op {name!r}; this agent knows: {', '.join(sorted(self.ops))}")
        if not isinstance(args, dict):
            raise errors.ProtocolError(f"op {name}: args must be a JSON object, got {args!r}")
        _check_args(entry, args)
        if name in LOCK_FREE_OPS:
            return entry.fn(self, **args)
        with self._op_lock:
            return entry.fn(self, **args)

    def serve(self, infile: IO[bytes], outfile: IO[bytes]) -> int:
        """Answer requests until EOF or an expired lease, then run the shutdown hooks; returns the exit status."""
        lines = _LineReader(infile)
        try:
            while True:
                # The lease clock starts now: after the last reply, with the agent idle.
                idle_limit = self.lease if self.lease_armed() else None
                line = lines.next(idle_limit)
                if line is _SILENT:
                    self.lease_expired = True
                    log.warning("no request for %gs (the lease) while holding devices: the controller or its "
                                "link is gone; shutting down", idle_limit)
                    return 0
                if not line:
                    log.info("stdin closed: shutting down")
                    return 0
                if line is _TOO_LONG:
                    reply = _error(None, errors.ProtocolError(f"request line longer than {MAX_LINE} bytes: discarded"))
                elif not line.strip():
                    continue
                else:
                    reply = self.handle_line(line)
                outfile.write(json.dumps(reply, default=str).encode() + b"\n")
                outfile.flush()
        except _Stop as stop:
            log.info("%s: shutting down", stop)
            return 0
        finally:
            self.run_shutdown_hooks()

    def install_signal_handlers(self) -> None:
        def stop(signum, frame):
            # A second signal while hooks run must not interrupt the restore.
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            raise _Stop(signal.Signals(signum).name)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, stop)

    def load_op_modules(self) -> None:
        self.broken_op_modules = load_op_modules()


def _check_args(entry: Op, args: dict) -> None:
    unknown = set(args) - set(entry.arg_types)
    if unknown:
        raise errors.ProtocolError(
            f"op {entry.name}: unknown argument(s) {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(entry.arg_types)) or 'none'}"
        )
    missing = [name for name in entry.required if name not in args]
    if missing:
        raise errors.ProtocolError(f"op {entry.name}: missing argument(s) {', '.join(missing)}")
    for name, value in args.items():
        expected = entry.arg_types[name]
        types = expected if isinstance(expected, tuple) else (expected,)
        # JSON true is a Python bool, which is an int: refuse it where a number is wanted.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wanted = " or ".join(t.__name__ for t in types)
            raise errors.ProtocolError(f"op {entry.name}: argument {name} must be {wanted}, got {value!r}")


def _error(request_id: Optional[int], exc: BaseException) -> dict:
    error = {"type": type(exc).__name__, "message": str(exc)}
    for attr in ("op", "errno"):  # structured fields some errors carry (PmdError)
        value = getattr(exc, attr, None)
        if isinstance(value, (str, int)):
            error[attr] = value
    return {"id": request_id, "ok": False, "error": error}


_TOO_LONG = object()  # a line over MAX_LINE, already skipped
_SILENT = object()    # nothing arrived within the lease


class _LineReader:
    """Reads request lines on a thread of its own, so the loop can wait for one with a timeout.

    select() cannot do it on a buffered stdin (a line may already sit in the buffer),
    and the thread reads the file descriptor with os.read, not through the buffered
    object: a daemon thread blocked inside a BufferedReader holds its lock, and the
    interpreter aborts at exit when it cannot take the lock of sys.stdin.
    """

    def __init__(self, infile: IO[bytes]) -> None:
        try:
            fd = infile.fileno()
            self._read_chunk = lambda: os.read(fd, 1 << 16)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # e.g. BytesIO in tests
            self._read_chunk = lambda: infile.read1(1 << 16)
        self._lines: "queue.Queue[Union[bytes, object]]" = queue.Queue()
        threading.Thread(target=self._read, name="agent-stdin", daemon=True).start()

    def _read(self) -> None:
        pending, skipping = b"", False  # skipping: inside a line already reported as too long
        while True:
            try:
                chunk = self._read_chunk()
            except (OSError, ValueError):  # closed under us: same as EOF
                chunk = b""
            if not chunk:
                if pending and not skipping:
                    self._lines.put(pending)
                self._lines.put(b"")
                return
            pending += chunk
            while True:
                end = pending.find(b"\n")
                if end < 0:
                    if len(pending) > MAX_LINE:
                        if not skipping:
                            self._lines.put(_TOO_LONG)
                        pending, skipping = b"", True
                    break
                line, pending = pending[:end + 1], pending[end + 1:]
                if skipping:
                    skipping = False
                else:
                    self._lines.put(_TOO_LONG if len(line) > MAX_LINE else line)

    def next(self, timeout: Optional[float]) -> Union[bytes, object]:
        """The next line (b"" at EOF), or _SILENT when `timeout` seconds pass without one."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return _SILENT
