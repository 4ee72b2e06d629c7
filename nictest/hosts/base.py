"""Host: the controller's handle on one host's agent, speaking JSON lines over a byte stream.

The protocol client lives here once. A transport (LocalHost, SSHHost) only
starts the agent and hands back an AgentStream; everything else (request ids,
timeouts, typed errors, hello, one reconnect, the heartbeat) is the same for all
of them.

The heartbeat keeps the agent's lease (agent/server.py): a thread sends a cheap
`heartbeat` whenever the connection has been silent for a third of the lease, so
an agent that holds a NIC never mistakes a quiet controller for a dead one, and
one whose controller really is gone (or whose link died without a FIN) restores
within the lease.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
import time
from abc import ABC, abstractmethod

from nictest import errors
from nictest.inventory import HostSpec

log = logging.getLogger("nictest.hosts")

# Safe to send twice: a retry after a reconnect cannot change the host's state.
IDEMPOTENT_OPS = frozenset({"ping", "hello", "status", "heartbeat"})
MAX_REQUEST = 1 << 20  # the agent refuses longer lines; refuse them here with a clearer message
EXIT_WAIT = 5.0  # how long to wait for an exit status once the agent's stdout closed
STDERR_LINES = 20  # of the agent's stderr kept for error messages


class StreamLost(Exception):
    """The agent's stdout closed or the transport died (internal to hosts; never escapes call())."""


class AgentExited(errors.HostUnreachable):
    """The agent exited before answering hello; `status` is its exit status (None if unknown)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class AgentStream(ABC):
    """A running agent as a transport sees it: bytes in, bytes out, an exit status."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes to the agent's stdin; raises OSError if the transport is gone."""

    @abstractmethod
    def read(self, timeout: float) -> bytes:
        """Some bytes of the agent's stdout; b"" at EOF; raises TimeoutError."""

    @abstractmethod
    def read_stderr(self) -> bytes:
        """Block for some bytes of the agent's stderr; b"" at EOF."""

    @abstractmethod
    def close_input(self) -> None:
        """Send EOF: the agent runs its shutdown hooks (restores NICs) and exits."""

    @abstractmethod
    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the agent is still running after `timeout`."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the agent now (its hooks may not run)."""


class Host(ABC):
    """One host under test. Use as a context manager, or call close()."""

    close_timeout = 60.0  # the agent restores every held NIC before exiting

    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.info: dict | None = None  # the hello reply of the running (or last lost) agent
        self.exit_status: int | None = None  # of the last agent closed by close()
        self._stream: AgentStream | None = None
        self._buffer = bytearray()
        self._next_id = 0
        self._lock = threading.RLock()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._last_traffic = time.monotonic()  # last request sent or reply read
        self._heartbeat_stop: threading.Event | None = None

    # --- what a transport provides ------------------------------------------
    @abstractmethod
    def _open_stream(self) -> AgentStream:
        """Start an agent and return its stream."""

    def _close_transport(self) -> None:
        """Release whatever the transport holds besides the stream (e.g. the SSH client)."""

    def describe(self) -> str:
        """Where the agent runs, for error messages."""
        return self.name

    @property
    def kernel_rx_pps(self) -> int | None:
        """How fast a kernel-path receiver on this host may be fed (hosts.toml `kernel_rx_pps`;
        None: as fast as the sender goes)."""
        return self.spec.kernel_rx_pps

    # --- links driven from outside (the link feature suite) ---------------------
    def link_control_reason(self, address: str) -> str | None:
        """None when this host can take the link of NIC `address` down and up from outside
        (set_link); otherwise why it cannot. A real host's cable is not nictest's to pull."""
        return f"{self.name} cannot drive links from outside (the cable of {address} is not under nictest's control)"

    def set_link(self, address: str, up: bool) -> None:
        """Take the link of NIC `address` down (up False) or back up, from outside the NIC."""
        raise errors.PrerequisiteMissing(self.link_control_reason(address) or f"{self.name}: set_link unsupported")

    # --- public API ---------------------------------------------------------
    def start(self) -> dict:
        """Start the agent if it is not running; returns its hello reply."""
        with self._lock:
            if self._stream is None:
                self._start()
            return self.info

    def call(self, op: str, timeout: float | None = None, **args) -> object:
        """Run `op` on the host's agent and return its result; host errors re-raise typed."""
        timeout = self.spec.call_timeout if timeout is None else timeout
        with self._lock:
            if self._stream is None:
                self._start()
            try:
                return self._request(op, args, timeout)
            except StreamLost as lost:
                first = lost
            self._drop()
            try:
                self._start()
            except (errors.HostKeyError, errors.PrerequisiteMissing):
                raise
            except errors.NictestError as exc:
                raise errors.HostUnreachable(
                    f"{self.name}: lost the agent during {op!r} ({first}) and could not start it again: {exc}"
                ) from exc
            if op not in IDEMPOTENT_OPS:
                raise errors.HostUnreachable(
                    f"{self.name}: the connection to the agent broke during {op!r} ({first}). The agent "
                    "was restarted; the old one restored the devices it held when its input closed. "
                    "Repeat the step from a known state."
                )
            log.warning("%s: agent lost during %s (%s); reconnected, retrying once", self.name, op, first)
            try:
                return self._request(op, args, timeout)
            except StreamLost as lost:
                self._drop()
                raise errors.HostUnreachable(
                    f"{self.name}: lost the agent again during {op!r} after a reconnect ({lost}). "
                    f"Agent stderr ended with: {self.stderr_tail(wait=EXIT_WAIT) or '(nothing)'}"
                ) from None

    def close(self) -> None:
        """Close the agent's input (it restores what it held and exits) and the transport."""
        with self._lock:
            self._stop_heartbeat()
            stream, self._stream = self._stream, None
            if stream is not None:
                try:
                    stream.close_input()
                except OSError:
                    pass
                self.exit_status = stream.wait(self.close_timeout)
                if self.exit_status is None:
                    log.warning("%s: agent did not exit within %gs of EOF; killing it", self.name, self.close_timeout)
                    stream.kill()
            self._close_transport()
            self.info = None

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def stderr_tail(self, wait: float = 0.0) -> str:
        """The agent's last stderr lines. wait: once its stream has ended, up to this long for
        the reader to take the last ones (an exit status can arrive before them)."""
        if wait and self._stderr_thread is not None:
            self._stderr_thread.join(wait)
        return " | ".join(self._stderr_tail)

    # --- internals ----------------------------------------------------------
    def _start(self) -> None:
        """Open a stream and say hello; raises AgentExited / PrerequisiteMissing."""
        stream = self._open_stream()
        self._attach(stream)
        try:
            # The session op goes out with hello, not after its reply: one round trip less per
            # connection. Its reply is read below (an agent without the op answers it with an error).
            hello_id = self._send("hello", {})
            session_id = self._send("session", self._session_args())
            info = self._receive("hello", hello_id, self.spec.call_timeout)
        except StreamLost:
            status = stream.wait(EXIT_WAIT)
            self._stream = None
            stream.kill()
            raise self._exited_error(status) from None
        except BaseException:
            self._drop()
            raise
        self.info = info
        if info.get("missing"):
            self.close()
            raise errors.PrerequisiteMissing(
                f"{self.name}: the host lacks what nictest needs: " + "; ".join(info["missing"])
            )
        try:
            self._receive("session", session_id, self.spec.call_timeout)
        except errors.ProtocolError:
            if "session" in info.get("ops", ()):
                raise
        if "heartbeat" in info.get("ops", ()):
            self._start_heartbeat(stream)

    def _session_args(self) -> dict:
        """The allow-list is enforced by the agent itself, so every (re)started agent gets it
        before any other request; with the controller's name for the journal and the lease."""
        return {"allowed": None if self.spec.nics is None else list(self.spec.nics),
                "controller": f"{socket.gethostname()} pid {os.getpid()}", "lease": self.spec.lease}

    # --- heartbeat ----------------------------------------------------------
    def _start_heartbeat(self, stream: AgentStream) -> None:
        stop = threading.Event()
        self._heartbeat_stop = stop
        threading.Thread(target=self._heartbeat, args=(stream, stop), daemon=True,
                         name=f"nictest-heartbeat-{self.name}").start()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_stop is not None:
            self._heartbeat_stop.set()
            self._heartbeat_stop = None

    def _heartbeat(self, stream: AgentStream, stop: threading.Event) -> None:
        interval = self.spec.lease / 3
        while True:
            due = self._last_traffic + interval
            if stop.wait(max(due - time.monotonic(), 0.0)):
                return
            if time.monotonic() < self._last_traffic + interval:
                continue  # a call went by while we slept
            # A call in progress holds the lock: the agent is busy with it, which keeps the lease too.
            if not self._lock.acquire(timeout=interval):
                continue
            try:
                if stop.is_set() or self._stream is not stream:
                    return
                self._request("heartbeat", {}, interval)
            except StreamLost as lost:
                log.warning("%s: heartbeat: %s; the next call reconnects", self.name, lost)
                return
            except errors.NictestError as exc:
                # No answer within a third of the lease: the link may be dead. The agent will
                # restore what it holds when its lease runs out; the next call reports the loss.
                log.warning("%s: heartbeat unanswered: %s", self.name, exc)
                self._last_traffic = time.monotonic()
            finally:
                self._lock.release()

    def _exited_error(self, status: int | None) -> errors.NictestError:
        tail = self.stderr_tail(wait=EXIT_WAIT)  # sudo's "not found" may trail the status
        where = f"{self.name}: the agent on {self.describe()} exited (status {status}) before answering"
        if status == 127:
            missing = "sudo" if "sudo: not found" in tail else "python3"
            fix = ("install sudo or drop `become` from the host's entry" if missing == "sudo"
                   else "apt-get install python3")
            return errors.PrerequisiteMissing(f"{where}: {missing} not found; {fix}. stderr: {tail}")
        if "sudo:" in tail:
            return errors.PrerequisiteMissing(
                f"{where}: sudo refused ({tail}); allow passwordless sudo (NOPASSWD) for the login user, "
                "or log in as root"
            )
        return AgentExited(f"{where}; its stderr ended with: {tail or '(nothing)'}", status)

    def _attach(self, stream: AgentStream) -> None:
        self._stream = stream
        self._buffer.clear()
        # A tail of its own per stream: the last stream's reader may still be adding its final
        # lines, and they must not show up as the new agent's.
        self._stderr_tail = collections.deque(maxlen=STDERR_LINES)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, args=(stream, self._stderr_tail),
                                               daemon=True, name=f"nictest-stderr-{self.name}")
        self._stderr_thread.start()

    def _drop(self) -> None:
        """Forget a broken agent and its transport without waiting for a clean exit."""
        self._stop_heartbeat()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.kill()
        self._close_transport()
        # self.info stays: the host's facts (IOMMU, kernel) outlive a lost agent, and the
        # next call reconnects and replaces them; tests asking host.info.get(...) in between
        # must see the host, not None.

    def _drain_stderr(self, stream: AgentStream, tail: collections.deque[str]) -> None:
        # An undrained stderr pipe or channel window would eventually block the agent.
        pending = b""
        while True:
            try:
                chunk = stream.read_stderr()
            except (OSError, EOFError):
                chunk = b""
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._note_stderr(line, tail)
        if pending:
            self._note_stderr(pending, tail)

    def _note_stderr(self, raw: bytes, tail: collections.deque[str]) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line)
            log.info("%s agent: %s", self.name, line)

    def _request(self, op: str, args: dict, timeout: float) -> object:
        return self._receive(op, self._send(op, args), timeout)

    def _send(self, op: str, args: dict) -> int:
        """Write one request; returns its id (the reply is _receive's to read)."""
        self._next_id += 1
        request_id = self._next_id
        line = json.dumps({"id": request_id, "op": op, "args": args}).encode() + b"\n"
        if len(line) > MAX_REQUEST:
            raise errors.ProtocolError(f"{self.name}: request {op!r} is {len(line)} bytes; the limit is {MAX_REQUEST}")
        self._last_traffic = time.monotonic()
        try:
            self._stream.write(line)
        except (OSError, EOFError) as exc:
            raise StreamLost(f"send failed: {exc}") from None
        return request_id

    def _receive(self, op: str, request_id: int, timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_reply(op, timeout, deadline)
            reply_id = reply.get("id")
            # id null: the agent could not read our request's id, and only this request is in flight.
            if reply_id == request_id or (reply_id is None and reply.get("ok") is False):
                break
            log.debug("%s: skipping reply %r to an earlier request that timed out", self.name, reply_id)
        self._last_traffic = time.monotonic()
        if reply.get("ok") is True:
            return reply.get("result")
        return self._remote_error(reply.get("error"))

    def _read_reply(self, op: str, timeout: float, deadline: float) -> dict:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                chunk = self._stream.read(remaining)
            except TimeoutError:
                raise errors.HostUnreachable(
                    f"{self.name}: no reply to {op!r} within {timeout:g}s from the agent on {self.describe()}; "
                    "check that the host is up and not overloaded, or pass a larger timeout for slow ops"
                ) from None
            except (OSError, EOFError) as exc:
                raise StreamLost(f"receive failed: {exc}") from None
            if not chunk:
                raise StreamLost("the agent's output closed")
            self._buffer += chunk
        raw, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise errors.ProtocolError(f"{self.name}: the agent sent a line that is not a reply: {raw[:200]!r}")
        return reply

    def _remote_error(self, error: object) -> None:
        if not isinstance(error, dict):
            raise errors.ProtocolError(f"{self.name}: error reply without an error object: {error!r}")
        cls = errors.by_name(str(error.get("type")))
        message = f"{self.name}: {error.get('message', '')}"
        try:
            exc = cls(message)
        except TypeError:  # classes with structured constructors (PmdError): keep the text
            exc = cls.__new__(cls)
            Exception.__init__(exc, message)
        for attr in ("op", "errno"):
            if attr in error:
                setattr(exc, attr, error[attr])
        raise exc
