"""A stand-in for a pytest session that gets killed: connect, take a NIC, report, wait.

    python controller.py HOST NIC DRIVER PHASE

PHASE: `bound` (bind, then wait), `tx` (bind, open the PMD, start a long
transmission), `unbind` (bind with the crash-test pause between unbind and
drivers_probe), `group` (bind NIC's whole IOMMU group with the crash-test pause
after the first member), `vfs` (create 2 VFs on the NIC as a PF, bind the first
to DRIVER, then wait). It prints one line `READY <json>` at the moment the test
should kill it (for `tx`, `unbind` and `group` just before the long call starts,
with the agent's pid), then blocks.
"""
from __future__ import annotations

import json
import sys
import time

from nictest import hosts, inventory

TX_PACKETS = 200_000
TX_RATE_PPS = 20_000   # ~10 s of transmission: the kill lands mid-transfer
UNBIND_PAUSE = 8.0
GROUP_PAUSE = 20.0  # after the first member of the group moved: the kill lands here


def ready(**info) -> None:
    print("READY " + json.dumps(info), flush=True)


def main(host_name: str, address: str, driver: str, phase: str) -> int:
    spec = inventory.parse_host_arg(host_name, inventory.load(None))
    host = hosts.connect(spec)
    allow_uio = driver == "uio_pci_generic"
    if phase == "group":
        pid = host.call("session", allowed=None if spec.nics is None else list(spec.nics),
                        controller=f"reliability: group bind of {address}")["pid"]
        ready(phase=phase, agent_pid=pid)
        host.call("bind", address=address, driver=driver, group=True, pause_between_members=GROUP_PAUSE,
                  timeout=120)
    elif phase == "vfs":
        host.call("session", allowed=None if spec.nics is None else list(spec.nics),
                  controller=f"reliability: VFs of {address}")
        made = host.call("vf_create", address=address, num_vfs=2)
        host.call("bind", address=made["vfs"][0]["address"], driver=driver)
        ready(phase=phase, vfs=[vf["address"] for vf in made["vfs"]])
    elif phase == "unbind":
        ready(phase=phase)
        host.call("bind", address=address, driver=driver, allow_uio=allow_uio, pause_after_unbind=UNBIND_PAUSE,
                  timeout=120)
    else:
        host.call("bind", address=address, driver=driver, allow_uio=allow_uio)
        if phase == "tx":
            port = host.call("pmd_open", address=address, backend="vfio" if driver == "vfio-pci" else "uio")["port"]
            host.call("pmd_link", port=port, timeout_ms=5000)
            ready(phase=phase, port=port)
            host.call("pmd_tx", port=port, count=TX_PACKETS, size=64, rate_pps=TX_RATE_PPS, timeout_ms=60000,
                      timeout=120)
        else:
            ready(phase=phase)
    while True:  # hold until killed
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
