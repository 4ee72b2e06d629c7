"""Which devices this machine's QEMU has, checked before a lab boots."""
from __future__ import annotations

import functools
import subprocess

from ..errors import LabError

QEMU = "qemu-system-x86_64"
# The device models that arrived late, and the QEMU that brought them.
_SINCE = {"igb": "8.0"}
_INSTALL = ("on Debian 12: apt-get install -t bookworm-backports qemu-system-x86 qemu-utils "
            "(bash .ci/setup does this)")


@functools.lru_cache(maxsize=1)
def version_and_devices() -> tuple:
    """(version text, set of -device names) of the installed QEMU."""
    try:
        version = subprocess.run([QEMU, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()[0]
        listing = subprocess.run([QEMU, "-device", "help"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, IndexError, subprocess.TimeoutExpired):
        raise LabError(f"{QEMU} is not installed or does not run; {_INSTALL}") from None
    names = set()
    for line in listing.splitlines():
        line = line.strip()
        if line.startswith("name \""):
            names.add(line.split('"')[1])
    return version, frozenset(names)


def check_devices(profile) -> None:
    """LabError naming the package to install when QEMU lacks a NIC model of the lab."""
    version, names = version_and_devices()
    used = {a.split(",")[0] for a in profile.qemu_args() if not a.startswith("-")}
    needed = {nic.qemu_device for nic in profile.nics} | (used & {"pcie-root-port", "pcie-pci-bridge"})
    missing = sorted(d for d in needed if d not in names)
    if missing:
        since = "; ".join(f"{d} needs QEMU >= {_SINCE[d]}" for d in missing if d in _SINCE)
        raise LabError(f"{profile.name} needs QEMU device(s) {', '.join(missing)}, which {version} "
                       f"does not have{' (' + since + ')' if since else ''}; {_INSTALL}")
