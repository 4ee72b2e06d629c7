"""Fuzz PciAddress.parse: any input parses to a valid address or raises PciAddressError, nothing else."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nictest.errors import PciAddressError
from nictest.pci import PciAddress

BUDGET = settings(max_examples=300, derandomize=True, deadline=None)

hexdigits = st.text("0123456789abcdefABCDEF", min_size=1, max_size=6)
near_addresses = st.builds(lambda d, b, dev, f, sep: f"{d}{sep}{b}:{dev}.{f}", hexdigits, hexdigits, hexdigits,
                           hexdigits, st.sampled_from([":", "", "::", " ", ".", ":"]))


@BUDGET
@given(st.one_of(st.text(max_size=40), near_addresses, st.integers(), st.none(), st.binary(max_size=20)))
def test_parse_returns_a_valid_address_or_a_typed_error(text):
    try:
        address = PciAddress.parse(text)
    except PciAddressError as exc:
        assert str(exc), "an error without a message"
        return
    assert 0 <= address.domain <= 0xFFFF and 0 <= address.bus <= 0xFF
    assert 0 <= address.device <= 0x1F and 0 <= address.function <= 7
    assert PciAddress.parse(str(address)) == address


@BUDGET
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0x1F), st.integers(0, 7), st.booleans())
def test_every_valid_address_round_trips(domain, bus, device, function, upper):
    text = f"{domain:04x}:{bus:02x}:{device:02x}.{function:x}"
    address = PciAddress.parse(text.upper() if upper else text)
    assert (address.domain, address.bus, address.device, address.function) == (domain, bus, device, function)
    assert str(address) == text
