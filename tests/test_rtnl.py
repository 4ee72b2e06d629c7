"""The rtnetlink address reader agrees with `ip -j addr` on this machine (read-only)."""
from __future__ import annotations

import shutil
import socket

import pytest

from nictest.binding import netstate, rtnl
from nictest.errors import BindError


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip to compare with (bash .ci/setup)")
@pytest.mark.parametrize("name", [name for _index, name in socket.if_nameindex()])
def test_addresses_match_ip(name):
    assert rtnl.addresses(name) == netstate.addresses_via_ip(name)


def test_loopback_has_its_address():
    assert {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo"} \
        in rtnl.addresses("lo")


@pytest.mark.parametrize("name", ["", "x" * 16, "a\0b"])
def test_impossible_names_are_refused_before_any_ioctl(name):
    with pytest.raises(BindError, match="not a netdev name"):
        rtnl.set_link(name, True)


def test_missing_netdev():
    with pytest.raises(BindError, match="no netdev"):
        rtnl.addresses("nictest-nope0")
