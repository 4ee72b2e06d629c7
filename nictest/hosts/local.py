"""LocalHost: the agent as a subprocess of the controller, over stdin/stdout pipes."""
from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import nictest
from nictest.hosts.base import AgentStream, Host

# The directory holding the nictest package: the agent imports this same tree.
PACKAGE_ROOT = Path(nictest.__file__).resolve().parent.parent


class ProcessStream(AgentStream):
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, timeout: float) -> bytes:
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError
        return os.read(fd, 65536)

    def read_stderr(self) -> bytes:
        return os.read(self.proc.stderr.fileno(), 65536)

    def close_input(self) -> None:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class LocalHost(Host):
    """`sys.executable -m nictest.agent` on this machine (sudo -n when become = "sudo")."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self._pid: int | None = None

    def agent_command(self) -> list[str]:
        command = [sys.executable, "-m", "nictest.agent"]
        if self.spec.become == "sudo":
            # sudo drops PYTHONPATH from the environment; pass it explicitly.
            command = ["sudo", "-n", "--", "env", f"PYTHONPATH={PACKAGE_ROOT}", *command]
        return command

    def _open_stream(self) -> ProcessStream:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            self.agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=PACKAGE_ROOT, bufsize=0,  # cwd: `-m` puts it first on sys.path
        )
        self._pid = proc.pid
        return ProcessStream(proc)

    def describe(self) -> str:
        return f"this machine (pid {self._pid})" if self._pid else "this machine"
