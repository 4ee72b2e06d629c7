from __future__ import annotations

import ipaddress

import pytest

from fakesysfs import FakeSysfs
from nictest.pci import routes


@pytest.fixture
def fake(tmp_path):
    fake = FakeSysfs(tmp_path)
    fake.add_loopback()
    return fake


def test_ipv4_routes_decode_little_endian_hex(fake, tmp_path):
    fake.add_route("eth0", "0.0.0.0/0", gateway="192.168.1.1", metric=100)
    fake.add_route("eth0", "192.168.1.0/24", metric=100)
    default, subnet = routes.ipv4_routes(tmp_path)
    assert default.network == ipaddress.ip_network("0.0.0.0/0")
    assert default.gateway == ipaddress.ip_address("192.168.1.1")
    assert (default.iface, default.metric) == ("eth0", 100)
    assert subnet.network == ipaddress.ip_network("192.168.1.0/24") and subnet.gateway is None


def test_ipv4_parses_a_real_kernel_table(tmp_path):
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert [str(r.network) for r in routes.ipv4_routes(tmp_path)] == ["0.0.0.0/0", "192.0.2.0/24"]
    assert str(routes.ipv4_routes(tmp_path)[0].gateway) == "192.0.2.1"


def test_ipv6_routes_parse(fake, tmp_path):
    fake.add_route6("eth0", "2001:db8::/64")
    fake.add_route6("eth0", "::/0", gateway="fe80::1", metric=1024)
    parsed = [r for r in routes.ipv6_routes(tmp_path) if r.iface == "eth0"]
    assert [str(r.network) for r in parsed] == ["2001:db8::/64", "::/0"]
    assert str(parsed[1].gateway) == "fe80::1" and parsed[1].metric == 1024


def test_missing_proc_files_mean_no_routes(tmp_path):
    assert routes.all_routes(tmp_path) == []
    assert routes.lookup(tmp_path, "10.0.0.1") is None


def test_carried_routes_ignore_lo_link_local_multicast_and_reject(fake, tmp_path):
    fake.link_local_only("eth1")
    fake.add_route6("eth2", "2001:db8::/64")
    fake.add_route6("eth3", "2001:db8:1::/64", flags=0x0201)  # reject
    fake.add_route("eth4", "10.9.0.0/16", flags=0x0201)  # reject
    carried = routes.carried_routes(routes.all_routes(tmp_path))
    assert list(carried) == ["eth2"]


def test_lookup_takes_longest_prefix_then_lowest_metric(fake, tmp_path):
    fake.add_route("wan0", "0.0.0.0/0", gateway="10.0.0.1")
    fake.add_route("mgmt0", "10.20.0.0/16", metric=200)
    fake.add_route("mgmt1", "10.20.0.0/16", metric=100)
    fake.add_route("lab0", "10.20.30.0/24")
    assert routes.lookup(tmp_path, "10.20.30.4").iface == "lab0"
    assert routes.lookup(tmp_path, "10.20.99.4").iface == "mgmt1"
    assert routes.lookup(tmp_path, "8.8.8.8").iface == "wan0"


def test_lookup_ipv6_mapped_scoped_and_loopback(fake, tmp_path):
    fake.add_route("eth0", "10.0.2.0/24")
    fake.add_route6("eth1", "2001:db8::/32")
    fake.link_local_only("eth2")
    fake.link_local_only("eth3")
    assert routes.lookup(tmp_path, "::ffff:10.0.2.2").iface == "eth0"
    assert routes.lookup(tmp_path, "2001:db8:5::1").iface == "eth1"
    assert routes.lookup(tmp_path, "fe80::1%eth3").iface == "eth3"
    assert routes.lookup(tmp_path, "127.0.0.1") is None
    assert routes.lookup(tmp_path, "::1") is None
    assert routes.lookup(tmp_path, "2a00::1") is None  # lo's ::/0 reject route does not count


def test_lookup_rejects_garbage(tmp_path):
    with pytest.raises(ValueError, match="SSH_CONNECTION"):
        routes.lookup(tmp_path, "not-an-ip")
