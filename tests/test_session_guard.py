"""The session-link guard: the kernel says which interface carries the SSH session.

Two halves: the rtnetlink reader against `ip` on this machine (read-only requests),
and Activity's decision with a stand-in kernel that answers as a policy-routed host
would (the lab test in tests/test_policy_routing_lab.py does it for real).
"""
from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess

import pytest

from fakesysfs import build_lab_host
from nictest.pci import netlink
from nictest.pci.activity import Activity

needs_ip = pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip to compare with (bash .ci/setup)")


def ip_json(*argv: str):
    return json.loads(subprocess.run(["ip", "-j", *argv], check=True, capture_output=True, text=True).stdout)


def local_addresses() -> list:
    return [a["local"] for link in ip_json("addr") for a in link.get("addr_info", [])
            if a.get("scope") != "link"]  # link-local needs a scope id to route


# --- rtnetlink on this machine --------------------------------------------------

def test_route_to_loopback_is_lo():
    route = netlink.route_get("127.0.0.1")
    assert (route.iface, route.kind) == ("lo", "local")


@needs_ip
@pytest.mark.parametrize("destination", ["127.0.0.1", "::1", "127.1.2.3", *local_addresses()])
def test_route_get_agrees_with_ip(destination):
    expected = ip_json("route", "get", destination)[0]
    route = netlink.route_get(destination)
    assert route.iface == expected["dev"]
    assert route.kind == expected.get("type", "unicast")
    assert route.gateway == expected.get("gateway")


@needs_ip
def test_route_get_from_a_local_source_agrees_with_ip():
    for source in local_addresses():
        version = ipaddress.ip_address(source).version
        destination = "127.0.0.1" if version == 4 else "::1"
        expected = ip_json("route", "get", destination, "from", source)[0]
        assert netlink.route_get(destination, source).iface == expected["dev"], source


@needs_ip
def test_route_to_the_outside_agrees_with_ip_or_both_say_unreachable():
    probe = "192.0.2.77"  # TEST-NET-1: routed by the default route if there is one; never contacted
    done = subprocess.run(["ip", "-j", "route", "get", probe], capture_output=True, text=True)
    if done.returncode != 0:
        with pytest.raises(netlink.NetlinkError):
            netlink.route_get(probe)
        return
    expected = json.loads(done.stdout)[0]
    route = netlink.route_get(probe)
    assert (route.iface, route.gateway, route.prefsrc) == (expected["dev"], expected.get("gateway"),
                                                           expected.get("prefsrc"))


def test_a_source_that_is_not_local_is_an_error_with_errno():
    with pytest.raises(netlink.NetlinkError) as raised:
        netlink.route_get("127.0.0.1", "198.51.100.99")  # TEST-NET-2: on no interface here
    assert raised.value.errno in (errno.EINVAL, errno.ENETUNREACH, errno.EADDRNOTAVAIL)


def test_mixed_families_are_refused_before_asking():
    with pytest.raises(ValueError, match="different IP versions"):
        netlink.route_get("127.0.0.1", "::1")


@needs_ip
def test_iface_holding_agrees_with_ip_addr():
    for link in ip_json("addr"):
        for address in link.get("addr_info", []):
            if address.get("scope") != "link":
                assert netlink.iface_holding(address["local"]) == link["ifname"], address["local"]
    assert netlink.iface_holding("198.51.100.99") is None


def test_parse_route_reads_a_table_above_255_and_the_gateway():
    body = netlink.RTMSG.pack(socket.AF_INET, 0, 0, 0, 252, 0, 0, 1, 0)  # rtmsg.table says 252 (compat)
    body += netlink.attr(netlink.RTA_TABLE, struct.pack("=I", 1000))
    body += netlink.attr(netlink.RTA_OIF, struct.pack("=I", socket.if_nametoindex("lo")))
    body += netlink.attr(netlink.RTA_GATEWAY, ipaddress.ip_address("10.0.2.2").packed)
    route = netlink.parse_route(body)
    assert (route.iface, route.kind, route.table, route.gateway, route.prefsrc) == \
        ("lo", "unicast", 1000, "10.0.2.2", None)


def test_attributes_are_padded_to_four_bytes():
    packed = netlink.attr(1, b"\x01\x02\x03\x04\x05")
    assert len(packed) == 12 and netlink.attrs(packed + netlink.attr(2, b"xy")) == {1: b"\x01\x02\x03\x04\x05",
                                                                                   2: b"xy"}


# --- Activity with a stand-in kernel --------------------------------------------

class PolicyRoutedKernel:
    """Answers as a host with `ip rule from 10.0.2.15 lookup 100`: table 100 sends the session
    out of enp0s2, while the main table's default route leaves by enp0s3."""

    def __init__(self, holder: str | None = "enp0s2", refuse_source: bool = False, broken: bool = False):
        self.holder, self.refuse_source, self.broken = holder, refuse_source, broken
        self.asked: list = []

    def route_get(self, destination, source=None):
        self.asked.append((destination, source))
        if self.broken:
            raise netlink.NetlinkError(errno.EPERM, "not allowed")
        if source is not None and self.refuse_source:
            raise netlink.NetlinkError(errno.EINVAL, "source is not local")
        if source == "10.0.2.15":
            return netlink.KernelRoute("enp0s2", "unicast", 100, None, "10.0.2.15")
        return netlink.KernelRoute("enp0s3", "unicast", 254, "192.168.7.1", "192.168.7.2")

    def iface_holding(self, address):
        if self.broken:
            raise netlink.NetlinkError(errno.EPERM, "not allowed")
        return self.holder if address == "10.0.2.15" else None


@pytest.fixture
def policy_routed_tree(tmp_path):
    """The recorded tree's main table: default via enp0s3 (the NIC under test), enp0s2 routes only 10.0.2.0/24."""
    fake = build_lab_host(tmp_path)
    fake.add_route("enp0s3", "0.0.0.0/0", gateway="192.168.7.1", metric=1)
    fake.add_route("enp0s3", "192.168.7.0/24")
    return tmp_path


def test_main_table_alone_names_the_wrong_interface(policy_routed_tree):
    """Why the kernel must be asked: the table view picks the NIC under test for a remote client."""
    tables_only = Activity(policy_routed_tree, "203.0.113.5", "10.0.2.15", kernel=None)
    assert set(tables_only.session_ifaces) == {"enp0s3"}


def test_kernel_route_from_the_session_address_names_the_management_nic(policy_routed_tree):
    kernel = PolicyRoutedKernel(holder=None)
    activity = Activity(policy_routed_tree, "203.0.113.5", "10.0.2.15", kernel=kernel)
    assert kernel.asked == [("203.0.113.5", "10.0.2.15")]  # the source address was sent, so `from` rules apply
    assert activity.carries_session("enp0s2") and not activity.carries_session("enp0s3")
    assert activity.reasons("enp0s2")[0] == "enp0s2 carries the SSH session (kernel route to 203.0.113.5, table 100)"
    assert activity.reasons("enp0s3") == ["enp0s3 carries IPv4 route 0.0.0.0/0 via 192.168.7.1",
                                          "enp0s3 carries IPv4 route 192.168.7.0/24"]  # routes still count


def test_the_interface_holding_the_local_address_carries_the_session_too(policy_routed_tree):
    """Route says enp0s3 (source refused, asked without it), the address sits on enp0s2: both are the session's."""
    kernel = PolicyRoutedKernel(holder="enp0s2", refuse_source=True)
    activity = Activity(policy_routed_tree, "203.0.113.5", "10.0.2.15", kernel=kernel)
    assert kernel.asked == [("203.0.113.5", "10.0.2.15"), ("203.0.113.5", None)]
    assert activity.carries_session("enp0s2") and activity.carries_session("enp0s3")
    assert activity.reasons("enp0s2")[0] == \
        "enp0s2 carries the SSH session (holds the session's address 10.0.2.15)"


def test_one_interface_for_both_answers_gives_one_reason_with_both(policy_routed_tree):
    activity = Activity(policy_routed_tree, "::ffff:203.0.113.5", "10.0.2.15", kernel=PolicyRoutedKernel())
    assert set(activity.session_ifaces) == {"enp0s2"}
    assert activity.reasons("enp0s2")[0] == ("enp0s2 carries the SSH session (kernel route to ::ffff:203.0.113.5, "
                                             "table 100; holds the session's address 10.0.2.15)")


def test_a_kernel_that_cannot_be_asked_falls_back_to_the_tables(policy_routed_tree):
    activity = Activity(policy_routed_tree, "10.0.2.2", "10.0.2.15", kernel=PolicyRoutedKernel(broken=True))
    assert set(activity.session_ifaces) == {"enp0s2"}  # 10.0.2.0/24 beats the default route
    assert activity.reasons("enp0s2")[0] == "enp0s2 carries the SSH session (route to 10.0.2.2)"


def test_a_session_over_a_stacked_device_marks_its_lower_nic(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_netdev("mgmt0")  # e.g. a VLAN on the management NIC
    fake.stack("enp0s2", "mgmt0")
    kernel = PolicyRoutedKernel(holder="mgmt0")
    kernel.route_get = lambda destination, source=None: netlink.KernelRoute("mgmt0", "unicast", 100, None, None)
    activity = Activity(tmp_path, "203.0.113.5", "10.0.2.15", kernel=kernel)
    assert activity.carries_session("enp0s2") and not activity.carries_session("enp0s3")


def test_loopback_client_and_garbled_local_address(policy_routed_tree):
    kernel = PolicyRoutedKernel()
    assert Activity(policy_routed_tree, "127.0.0.1", "127.0.0.1", kernel=kernel).session_ifaces == {}
    assert kernel.asked == []
    garbled = Activity(policy_routed_tree, "203.0.113.5", "not-an-ip", kernel=kernel)
    assert kernel.asked == [("203.0.113.5", None)]  # asked without a source
    assert set(garbled.session_ifaces) == {"enp0s3"}  # what the stand-in routes without one


def test_a_live_root_asks_the_kernel_and_a_recorded_tree_does_not(tmp_path, monkeypatch):
    build_lab_host(tmp_path)
    asked = []
    monkeypatch.setattr(netlink, "route_get", lambda d, s=None: asked.append((d, s)) or
                        netlink.KernelRoute("lo", "local", 254, None, None))
    monkeypatch.setattr(netlink, "iface_holding", lambda a: None)
    Activity(tmp_path, "203.0.113.5", "10.0.2.15")
    assert asked == []
    Activity("/", "203.0.113.5", "10.0.2.15")
    assert asked == [("203.0.113.5", "10.0.2.15")]


# --- the dry-run op --------------------------------------------------------------

def test_bind_check_reports_the_refusal_and_touches_nothing(tmp_path, monkeypatch):
    from nictest.agent import binding_ops
    from nictest.agent import ops as agent_ops
    from nictest.agent.server import Agent

    build_lab_host(tmp_path / "root")
    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("NICTEST_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("NICTEST_SYSFS_ROOT", str(tmp_path / "root"))
    agent = Agent(ops=dict(agent_ops.OPS), session_ip="10.0.2.2", session_local="10.0.2.15")
    before = sorted(str(p) + (os.readlink(p) if p.is_symlink() else "") for p in (tmp_path / "root").rglob("*"))
    check = binding_ops.bind_check(agent, "0000:00:02.0", "vfio-pci", force=True)
    assert check["refused"] and "carries the SSH session" in check["refused"] and check["reason"] == "RefusedError"
    outside = binding_ops.session(agent, allowed=["0000:00:04.0"])
    assert outside["allowed"] == ["0000:00:04.0"]
    assert "allow-list" in binding_ops.bind_check(agent, "0000:00:03.0", "vfio-pci")["refused"]
    after = sorted(str(p) + (os.readlink(p) if p.is_symlink() else "") for p in (tmp_path / "root").rglob("*"))
    assert after == before
    assert not list((tmp_path / "journal").glob("*")) and not list((tmp_path / "locks").glob("*"))
    assert agent.lease_armed() is False  # a dry run holds nothing
