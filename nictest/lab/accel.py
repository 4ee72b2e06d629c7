"""KVM or TCG: use KVM only where a short boot proves it works.

LAB.md: some machines expose a paravirtual /dev/kvm on which the guest kernel
hangs in its decompressor, so /dev/kvm existing proves nothing. The verdict is
cached per host kernel and guest kernel. NICTEST_LAB_ACCEL=tcg|kvm overrides.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from . import paths
from .build import Image
from .progress import Progress

PROBE_SECONDS = 10


def choose(image: Image, progress: Progress) -> str:
    forced = os.environ.get("NICTEST_LAB_ACCEL")
    if forced in ("tcg", "kvm"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache = paths.cache_root() / "lab" / "accel.json"
    key = f"{os.uname().release} {image.dir.name}"
    try:
        verdicts = json.loads(cache.read_text())
    except (OSError, ValueError):
        verdicts = {}
    if key not in verdicts:
        progress.say("accel", f"probing KVM with a {PROBE_SECONDS} s boot")
        verdicts[key] = "kvm" if _kvm_boots(image) else "tcg"
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(verdicts, indent=2))
    return verdicts[key]


def _kvm_boots(image: Image) -> bool:
    """True when the guest kernel prints on the serial console under KVM in time."""
    with tempfile.TemporaryDirectory() as tmp:
        console = Path(tmp) / "console.log"
        proc = subprocess.Popen(
            ["qemu-system-x86_64", "-machine", "q35,kernel-irqchip=split", "-accel", "kvm",
             "-cpu", "host", "-m", "512", "-kernel", str(image.kernel), "-initrd", str(image.initrd),
             "-append", "console=ttyS0 panic=-1", "-display", "none", "-no-reboot",
             "-serial", f"file:{console}", "-monitor", "none", "-nic", "none"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + PROBE_SECONDS
            while time.monotonic() < deadline and proc.poll() is None:
                if console.exists() and b"Linux version" in console.read_bytes():
                    return True
                time.sleep(0.5)
            return False
        finally:
            proc.kill()
            proc.wait()
