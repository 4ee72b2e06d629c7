"""A root shell on a QEMU lab for fault injection (unload a module, shrink hugepages, kill sshd).

Test-only: it opens its own SSH connection with the lab's key and host-key check
(the same client code SSHHost uses) and runs fixed commands; names are quoted with
shlex. The agent has no op for any of this on purpose: production agents must
not be able to do it.
"""
from __future__ import annotations

import shlex

from nictest.hosts.qemu import QemuLabHost


class LabShell:
    def __init__(self, spec) -> None:
        self._host = QemuLabHost(spec)
        self._client = self._host._connect_client()

    def run(self, command: str, check: bool = True, timeout: float = 60.0) -> str:
        _stdin, stdout, stderr = self._client.exec_command(command, timeout=timeout)
        out = stdout.read().decode()
        err = stderr.read().decode()
        status = stdout.channel.recv_exit_status()
        if check and status != 0:
            raise AssertionError(f"lab command {command!r} failed ({status}): {err.strip()}")
        return out

    def write(self, path: str, text: str) -> None:
        self.run(f"printf %s {shlex.quote(text)} > {shlex.quote(path)}")

    def read(self, path: str) -> str:
        return self.run(f"cat {shlex.quote(path)}").strip()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "LabShell":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
