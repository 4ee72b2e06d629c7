"""The bundled lab hosts, live: what `nictest status` must report on each (its lab file says).

Needs `--host LAB` (pytest boots it); in CI a missing lab fails.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nictest import hosts, lab

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.lab

# What the guest shows for each model a lab holds (vendor, device, kernel driver).
MODEL_IDS = {"e1000": ("8086", "100e", "e1000"), "e1000e": ("8086", "10d3", "e1000e"),
             "igb": ("8086", "10c9", "igb"), "rtl8139": ("10ec", "8139", "8139cp")}


def lab_profile(host):
    if host.spec.kind != "qemu":
        pytest.skip(f"{host.name} is not a bundled lab: lab-specific expectations do not apply")
    return lab.profile(host.spec.lab)


def test_status_json_lists_the_lab_nics(host):
    """Every NIC the lab file declares is where its placement says, with its model's IDs and
    kernel driver, its MAC, inactive; each alone in its IOMMU group unless behind the bridge."""
    profile = lab_profile(host)
    result = subprocess.run([sys.executable, "-m", "nictest.cli", "status", "--host", host.name, "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    devices = {d["address"]: d for d in json.loads(result.stdout)}
    bridged = {n.guest_address for n in profile.nics if n.place == "pci-bridge"}
    groups = set()
    for want in profile.nics:
        nic = devices[want.guest_address]
        assert (nic["vendor"], nic["device"], nic["driver"]) == MODEL_IDS[want.model], want
        assert nic["netdev"] and nic["mac"] == want.mac and nic["active"] is False
        if not profile.iommu:
            assert nic["iommu_group"] is None
            continue
        assert nic["iommu_group"] is not None
        nic_members = {m for m in nic["iommu_group_members"] if m in devices}
        if want.guest_address in bridged:
            assert nic_members == bridged - {want.guest_address}, nic  # the shared group
        else:
            assert nic_members == set(), nic
            assert nic["iommu_group"] not in groups
        groups.add(nic["iommu_group"])
    mgmt = devices["0000:00:02.0"]
    assert mgmt["driver"] == "virtio-pci" and mgmt["active"] is True


def test_agent_reports_the_hosts_iommu(host):
    assert host.info["iommu"] is lab_profile(host).iommu
    assert host.info["uid"] == 0 and host.info["missing"] == []


def test_a_second_connection_does_not_upload_the_agent_again(host):
    lab_profile(host)
    first = hosts.connect(host.spec)
    first.close()
    second = hosts.connect(host.spec)
    try:
        assert second.uploads == 0
        assert second.call("ping") == {"pong": True}
    finally:
        second.close()


def driver_of(host, address: str):
    return next(d for d in host.call("status")["devices"] if d["address"] == address)["driver"]


def first_nic_move(host):
    """The lab's first NIC, the user-space driver that applies, and what a bind of it moves:
    a NIC behind the lab's bridge shares its IOMMU group, and VFIO takes the group as one unit."""
    profile = lab_profile(host)
    want = profile.nics[0]
    driver = "vfio-pci" if host.info["iommu"] else "uio_pci_generic"
    group = driver == "vfio-pci" and want.place == "pci-bridge"
    moved = [n.guest_address for n in profile.nics if n.place == "pci-bridge"] if group else [want.guest_address]
    return want, driver, group, moved


def wait_restored(host, want, moved, message: str) -> None:
    """Every moved NIC back on the model's kernel driver within a minute (the agent restores them)."""
    kernel_driver = MODEL_IDS[want.model][2]
    deadline = time.monotonic() + 60
    while any(driver_of(host, a) != kernel_driver for a in moved) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [driver_of(host, a) for a in moved] == [kernel_driver] * len(moved), message


def test_cli_connections_share_the_resident_agent_and_each_keeps_its_dead_mans_switch(host):
    """Two CLI-style connections (hosts.connect(resident=True), as `nictest status|bind` make)
    reach one resident agent through sshd's direct-streamlocal channel, each under its own
    SSH session as the kernel tells it; the first one's NIC, held and its connection cut
    without a goodbye (a killed CLI), is back on its kernel driver while the second is served."""
    want, driver, group, moved = first_nic_move(host)
    first = hosts.connect(host.spec, resident=True)
    second = hosts.connect(host.spec, resident=True)
    try:
        assert first.info["resident"] is True and second.info["resident"] is True, first.info
        assert first.info["pid"] == second.info["pid"] != host.info["pid"]
        assert first.info["session_ip"] == second.info["session_ip"] == host.info["session_ip"]
        assert first.info["session_local"] == host.info["session_local"]
        first.call("bind", address=want.guest_address, driver=driver, allow_uio=True, persistent=False, group=group)
        assert [driver_of(second, a) for a in moved] == [driver] * len(moved)
        first._drop()  # the channel closed under the agent: what a SIGKILLed CLI leaves
        wait_restored(second, want, moved, "the cut client's NIC was not restored")
        journal = second.call("journal")
        # a group's entry is kept under its first endpoint's address, which is in `moved`
        assert not [e for kind in ("held", "stale", "persistent") for e in journal[kind] if e["address"] in moved], \
            journal
        assert second.call("ping") == {"pong": True} and second.info["pid"] == first.info["pid"]
    finally:
        first.close()
        second.close()


def _keeper_pid(path: Path) -> int:
    """The keeper's pid, as the kernel tells it for a connection to its socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        return struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]


def _exited(pid: int) -> bool:
    """Gone, or a zombie its new parent has not reaped yet (the CLI that started it has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_cli_calls_share_one_kept_connection_and_a_killed_hold_is_restored(host, monkeypatch):
    """The first `nictest` call starts the keeper of the host's SSH connection; the next call goes
    through the same keeper; a `nictest hold` through it, SIGKILLed, gets its NIC restored by
    the agent (its channel closed with its socket); `nictest disconnect` ends the keeper."""
    from nictest.hosts import mux

    want, driver, group, moved = first_nic_move(host)
    runtime = tempfile.mkdtemp(prefix="nt-")  # this test's keepers only, and a short socket path
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv(mux.PERSIST_ENV, "120")
    cli = [sys.executable, "-m", "nictest.cli"]
    hold = None
    try:
        first = subprocess.run(cli + ["status", "--host", host.name, "--json"], capture_output=True, text=True,
                               timeout=120)
        assert first.returncode == 0, first.stderr
        path = mux.socket_path(host.spec)
        keeper = _keeper_pid(path)
        second = subprocess.run(cli + ["status", "--host", host.name, "--json"], capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout) and _keeper_pid(path) == keeper  # the same keeper served it
        hold = subprocess.Popen(cli + ["hold", "--host", host.name, want.guest_address, driver, "--allow-uio"]
                                + (["--group"] if group else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        line = hold.stdout.readline()
        assert "holding" in line, line + hold.stderr.read() if hold.poll() is not None else line
        assert [driver_of(host, a) for a in moved] == [driver] * len(moved)
        assert _keeper_pid(path) == keeper
        hold.kill()  # SIGKILL: no goodbye; its socket closes, the keeper ends its channel
        hold.wait(10)
        wait_restored(host, want, moved, "the killed hold's NIC was not restored")
        done = subprocess.run(cli + ["disconnect", "--host", host.name], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0 and "kept connection closed" in done.stdout, done.stdout + done.stderr
        assert not path.exists()
        assert _exited(keeper), "the keeper outlived `nictest disconnect`"
    finally:
        if hold is not None and hold.poll() is None:
            hold.kill()
        subprocess.run(cli + ["disconnect", "--host", host.name], capture_output=True, timeout=180)
        shutil.rmtree(runtime, ignore_errors=True)


def test_without_nics_every_inactive_nic_is_under_test(host, tmp_path):
    """No `nics` in the inventory: the suites take every NIC that is not active (collected
    from discovery), never the management NIC."""
    profile = lab_profile(host)
    spec = host.spec
    inventory = tmp_path / "hosts.toml"
    inventory.write_text(f'[hosts.{spec.name}]\nkind = "qemu"\nlab = "{spec.lab}"\n'
                         f'address = "{spec.address}"\nport = {spec.port}\nuser = "{spec.user}"\n')
    result = subprocess.run([sys.executable, "-m", "pytest", "suites/test_binding.py", "--collect-only", "-q",
                             "-p", "no:xdist", "--host", spec.name, "--inventory", str(inventory)],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    tested = {address for address in profile.nic_addresses + ("0000:00:02.0",)
              if any(f"-{address}]" in i for i in ids)}
    assert tested == set(profile.nic_addresses), ids
