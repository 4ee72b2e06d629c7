from __future__ import annotations

import pytest

from nictest.errors import NictestError, PciAddressError
from nictest.pci import PciAddress


@pytest.mark.parametrize("text, expected", [
    ("0000:3b:00.0", "0000:3b:00.0"),
    ("3b:00.0", "0000:3b:00.0"),
    ("0000:3B:1F.7", "0000:3b:1f.7"),
    ("ABCD:FF:1f.7", "abcd:ff:1f.7"),
    ("0:0:0.0", "0000:00:00.0"),
    (" 0000:00:03.0\n", "0000:00:03.0"),
])
def test_parse_normalises(text, expected):
    assert str(PciAddress.parse(text)) == expected


def test_parse_fields_and_order():
    address = PciAddress.parse("0001:3b:1c.2")
    assert (address.domain, address.bus, address.device, address.function) == (1, 0x3B, 0x1C, 2)
    assert PciAddress.parse("00:03.0") < PciAddress.parse("00:04.0") < PciAddress.parse("01:00.0")
    assert PciAddress.parse("3b:00.0") == PciAddress.parse("0000:3B:00.0")
    assert PciAddress.parse(address) is address


def test_address_is_frozen():
    address = PciAddress.parse("00:03.0")
    with pytest.raises(AttributeError):
        address.bus = 1  # type: ignore[misc]


@pytest.mark.parametrize("text, field", [
    ("10000:00:00.0", "domain"),
    ("0000:100:00.0", "bus"),
    ("0000:00:20.0", "device"),
    ("0000:00:00.8", "function"),
])
def test_parse_rejects_out_of_range(text, field):
    with pytest.raises(PciAddressError) as caught:
        PciAddress.parse(text)
    message = str(caught.value)
    assert text in message and field in message and "DDDD:BB:DD.F" in message


@pytest.mark.parametrize("text", ["", "eth0", "0000:3b:00", "0000:3b:00.", "3b.00.0", "0000:3g:00.0", "0:0000:00:00.0", "0000:00:00.0.1"])
def test_parse_rejects_malformed(text):
    with pytest.raises(PciAddressError) as caught:
        PciAddress.parse(text)
    assert repr(text) in str(caught.value) and "DDDD:BB:DD.F" in str(caught.value)


def test_parse_error_is_a_nictest_and_value_error():
    with pytest.raises(NictestError):
        PciAddress.parse("nope")
    with pytest.raises(ValueError):
        PciAddress.parse("nope")
    with pytest.raises(PciAddressError):
        PciAddress.parse(3)  # type: ignore[arg-type]
