"""A ProxyCommand as the socket of an SSH transport (paramiko's ProxyCommand, made to end cleanly).

paramiko's ProxyCommand spins on a dead command (its recv never reports EOF,
paramiko issues 413 and 1277), leaves a zombie and three pipes behind on close
(PR 2174), and keeps the command's stderr in a pipe nobody reads. Here the
command runs under /bin/sh like ssh runs it, EOF reaches the transport as EOF,
close() reaps the command, and its stderr goes to a file the error message quotes.
"""
from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile

import paramiko

TERM_WAIT = 2.0  # seconds between SIGTERM and SIGKILL on close


class ProxyCommandSocket(paramiko.ProxyCommand):
    def __init__(self, command: str) -> None:
        # No super().__init__: it would split the command with shlex and pipe stderr.
        self.cmd = ["/bin/sh", "-c", f"exec {command}"]
        self.command = command
        self._stderr = tempfile.TemporaryFile()
        self._stderr_tail = ""
        # Its own session: a Ctrl-C meant for pytest must not cut the link before the
        # agent has been told to restore and exit.
        self.process = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, bufsize=0, start_new_session=True)
        self.timeout = None
        self._done = False

    def recv(self, size: int) -> bytes:
        """Whatever the command wrote (up to `size`); b"" once it closed its stdout or we closed it."""
        try:
            ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
            data = os.read(self.process.stdout.fileno(), size) if ready else None
        except (OSError, ValueError) as exc:  # ValueError: the pipe was closed under the reader
            if self._done:
                return b""
            raise paramiko.ProxyCommandFailure(self.command, getattr(exc, "strerror", None) or str(exc)) from None
        if data is None:
            raise socket.timeout()
        return data

    def send(self, content: bytes) -> int:
        try:
            self.process.stdin.write(content)
        except (OSError, ValueError) as exc:
            raise paramiko.ProxyCommandFailure(self.command, getattr(exc, "strerror", None) or str(exc)) from None
        return len(content)

    def stderr_text(self, limit: int = 400) -> str:
        """The end of what the command wrote on stderr (ssh -W says there why it failed)."""
        if self._stderr.closed:
            return self._stderr_tail
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").split("\n")
        return " | ".join(line.strip() for line in lines if line.strip())[-limit:]

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(TERM_WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr_tail = self.stderr_text()
        self._stderr.close()

    @property
    def closed(self) -> bool:
        return self._done or self.process.poll() is not None
