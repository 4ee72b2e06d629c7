"""The software side of the rss suites: the Toeplitz hash against the RSS specification's
verification vectors, and what a model without UDP port hashing (rss.udp_ports false) is
expected to report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.rss import SPEC_KEY, flow_hash, hash_type, toeplitz, tuple_bytes
from fixtures.rss_checks import fields
from nictest.models import schema

# Microsoft's RSS verification suite, IPv4: 66.9.149.187:2794 -> 161.142.100.80:1766.
SPEC_FLOW = {"src_ip": "66.9.149.187", "dst_ip": "161.142.100.80", "src_port": 2794, "dst_port": 1766}


def test_toeplitz_matches_the_specifications_ipv4_vectors():
    assert toeplitz(SPEC_KEY, tuple_bytes(SPEC_FLOW)) == 0x51CCC178
    assert toeplitz(SPEC_KEY, tuple_bytes(SPEC_FLOW, with_ports=False)) == 0x323E8FC2


@pytest.mark.parametrize("udp_ports, want_hash, want_type", [(True, 0x51CCC178, "ipv4_udp"),
                                                              (False, 0x323E8FC2, "ipv4")])
def test_udp_flow_hashes_over_its_ports_only_where_the_model_does(udp_ports, want_hash, want_type):
    flow = dict(SPEC_FLOW, l4="udp")
    assert flow_hash(SPEC_KEY, flow, udp_ports) == want_hash
    assert hash_type(flow, udp_ports) == want_type


def test_tcp_flow_always_hashes_over_its_ports():
    flow = dict(SPEC_FLOW, l4="tcp")
    assert flow_hash(SPEC_KEY, flow, udp_ports=False) == 0x51CCC178
    assert hash_type(flow, udp_ports=False) == "ipv4_tcp"


def test_fields_asked_for_leave_out_udp_where_the_model_has_no_udp_field():
    assert fields(True) == ["ipv4", "ipv4_tcp", "ipv4_udp"]
    assert fields(False) == ["ipv4", "ipv4_tcp"]


def test_profile_rss_udp_ports_must_be_a_boolean():
    path = Path(schema.__file__).with_name("e1000e.json")
    data = json.loads(path.read_text())
    assert schema.validate(data, str(path))["rss"] == {"udp_ports": False}
    data["rss"] = {"udp_ports": "no"}
    with pytest.raises(Exception, match=r"rss\.udp_ports"):
        schema.validate(data, str(path))
