"""Boot, find and stop a lab VM (QEMU q35) by its run directory and pidfile."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import LabError
from . import accel, paths, qemu
from .build import Image
from .profiles import profile
from .progress import Progress


class LabVM:
    """One lab host: ~/.cache/nictest/lab/run/<name>/ holds its disk copy and pidfile."""

    def __init__(self, name: str):
        self.profile = profile(name)   # a bundled lab's name or a lab file's path
        self.name = self.profile.name
        self.dir = paths.run_dir(self.name)

    # files of the running VM
    @property
    def pidfile(self) -> Path: return self.dir / "vm.pid"
    @property
    def console_log(self) -> Path: return self.dir / "console.log"
    @property
    def qemu_log(self) -> Path: return self.dir / "qemu.log"
    @property
    def monitor_socket(self) -> Path: return self.dir / "monitor.sock"
    @property
    def known_hosts(self) -> Path: return self.dir / "known_hosts"
    @property
    def state_file(self) -> Path: return self.dir / "state.json"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"qemu-system" in cmdline else None  # a reused pid is not our VM

    def running(self) -> bool:
        return self.pid() is not None

    def state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def image(self) -> Image:
        image_dir = self.state().get("image")
        if not image_dir:
            raise LabError(f"{self.name} has no recorded image; run `nictest lab up {self.name}`")
        return Image(Path(image_dir))

    def status(self) -> dict:
        state = self.state()
        return {"lab": self.name, "running": self.running(), "pid": self.pid(),
                "ssh": f"127.0.0.1:{self.profile.ssh_port}", "iommu": self.profile.iommu,
                "nics": [{"address": n.guest_address, "model": n.model, "mac": n.mac}
                         for n in self.profile.nics],
                "accel": state.get("accel"), "image": state.get("image"),
                "started": state.get("started")}

    def qemu_argv(self, image: Image, disk: Path, accel_name: str) -> list:
        p = self.profile
        append = ["root=/dev/vda", "rw", "console=ttyS0", "hugepages=64", "panic=-1",
                  "net.ifnames=1"]
        argv = ["qemu-system-x86_64", "-machine", "q35", "-m", str(p.memory_mb),
                "-smp", str(p.cpus), "-name", f"nictest-{self.name}"]
        if accel_name == "kvm":
            argv += ["-accel", "kvm", "-cpu", "host", "-machine", "kernel-irqchip=split"]
        else:
            # One TCG thread for all vCPUs: with multi-threaded TCG, QEMU 10.0.2 aborted
            # (physmem.c iotlb_to_section assertion) and guests stalled ("rcu_preempt kthread
            # timer wakeup didn't happen") while the IOMMU lab rebound devices; a CI host has
            # two cores for two labs, so one thread per lab is also the fair share.
            argv += ["-accel", "tcg,thread=single", "-cpu", "max"]
        if p.iommu:
            # intremap=on: without interrupt remapping VFIO_SET_IOMMU fails with EPERM.
            argv += ["-device", "intel-iommu,intremap=on"]
            append += ["intel_iommu=on", "iommu=on"]
        argv += ["-kernel", str(image.kernel), "-initrd", str(image.initrd),
                 "-append", " ".join(append),
                 "-drive", f"file={disk},if=virtio,format=raw",
                 "-display", "none", "-serial", f"file:{self.console_log}",
                 "-monitor", f"unix:{self.monitor_socket},server,nowait",
                 "-D", str(self.qemu_log), "-d", "guest_errors",
                 # restrict=on: the guest reaches nothing but the forwarded port.
                 "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{p.ssh_port}-:22",
                 "-device", "virtio-net-pci,netdev=mgmt,addr=02.0"]
        argv += p.qemu_args()
        argv += ["-pidfile", str(self.pidfile), "-daemonize"]
        return argv

    def up(self, image: Image, progress: Progress | None = None, timeout: float = 300.0) -> bool:
        """Boot unless running; True when this call booted it. Waits for sshd."""
        progress = progress or Progress(f"lab {self.name}")
        if self.running():
            progress.say("up", f"{self.name} already running (pid {self.pid()})")
            self.wait_ssh(timeout, progress)
            return False
        _check_port_free(self.profile.ssh_port, self.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.console_log, self.qemu_log, self.monitor_socket):
            stale.unlink(missing_ok=True)
        disk = self.dir / "disk.img"
        subprocess.run(["cp", "--sparse=always", str(image.disk), str(disk)], check=True)
        host_key = image.host_key.read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.profile.ssh_port} {host_key[0]} {host_key[1]}\n")
        qemu.check_devices(self.profile)
        accel_name = accel.choose(image, progress)
        argv = self.qemu_argv(image, disk, accel_name)
        progress.say("boot", f"{self.name}: {self.profile.describe()}, {accel_name.upper()}, "
                             f"ssh on 127.0.0.1:{self.profile.ssh_port}")
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(f"QEMU did not start {self.name}: {result.stderr.strip()}")
        self.state_file.write_text(json.dumps({
            "image": str(image.dir), "accel": accel_name, "started": time.time(),
            "argv": argv}, indent=2))
        try:
            self.wait_ssh(timeout, progress)
        except LabError:
            self.down()
            raise
        return True

    def wait_ssh(self, timeout: float, progress: Progress) -> None:
        """Wait until the guest's sshd sends its banner through the forwarded port."""
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not self.running():
                raise LabError(f"{self.name} QEMU exited while booting; console: {self.console_log}")
            if _ssh_banner(self.profile.ssh_port):
                progress.say("ssh", f"{self.name} sshd answers on 127.0.0.1:{self.profile.ssh_port}")
                return
            if time.monotonic() > next_report:
                progress.say("boot", f"waiting for sshd; console: {_last_line(self.console_log)}")
                next_report = time.monotonic() + 15
            time.sleep(0.5)
        raise LabError(f"{self.name} sshd did not answer on 127.0.0.1:{self.profile.ssh_port} "
                       f"within {timeout:.0f} s; console: {self.console_log}")

    def monitor(self, command: str) -> str:
        """One QEMU human-monitor command (e.g. system_reset)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.monitor_socket))
            sock.recv(4096)
            sock.sendall(command.encode() + b"\n")
            time.sleep(0.2)
            return sock.recv(65536).decode(errors="replace")

    def down(self, timeout: float = 10.0) -> bool:
        """Stop QEMU by its pidfile; True when something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running():
            time.sleep(0.1)
        if self.running():
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.pidfile.unlink(missing_ok=True)
        (self.dir / "disk.img").unlink(missing_ok=True)
        return True


def _check_port_free(port: int, name: str) -> None:
    with socket.socket() as sock:
        # As QEMU's hostfwd binds it: a connection of the last boot in TIME-WAIT (the guest side
        # closed first, e.g. under a kept CLI connection) does not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise LabError(f"127.0.0.1:{port} (the SSH port of {name}) is in use by another "
                           f"process; stop it or another lab there (`nictest lab down {name}`)") from None


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.settimeout(3)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _last_line(path: Path) -> str:
    try:
        lines = [l for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return "(no console output yet)"
    return lines[-1][:120] if lines else "(no console output yet)"
