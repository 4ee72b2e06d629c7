"""PCI addresses: parsed once, validated, always printed as DDDD:BB:DD.F."""
from __future__ import annotations

import re
from dataclasses import dataclass

from nictest.errors import PciAddressError

# Loose on purpose: any hex width, so an out-of-range field gets a precise
# message ("bus 0x100 > 0xff") instead of a bare "does not match".
_ADDRESS = re.compile(
    r"^(?:(?P<domain>[0-9a-f]+):)?(?P<bus>[0-9a-f]+):(?P<device>[0-9a-f]+)\.(?P<function>[0-9a-f]+)$"
)
_LIMITS = (("domain", 0xFFFF), ("bus", 0xFF), ("device", 0x1F), ("function", 0x7))


@dataclass(frozen=True, order=True)
class PciAddress:
    """A PCI function address; orders by (domain, bus, device, function)."""

    domain: int
    bus: int
    device: int
    function: int

    @classmethod
    def parse(cls, text: str | PciAddress) -> PciAddress:
        """Parse `0000:3b:00.0` or `3b:00.0` (domain 0), any hex case."""
        if isinstance(text, PciAddress):
            return text
        if not isinstance(text, str):
            raise PciAddressError(
                f"PCI address must be a string like 0000:3b:00.0 (DDDD:BB:DD.F), got {text!r}"
            )
        match = _ADDRESS.match(text.strip().lower())
        if match is None:
            raise PciAddressError(
                f"not a PCI address: {text!r}; expected DDDD:BB:DD.F (hex), e.g. 0000:3b:00.0 or 3b:00.0"
            )
        fields = {name: int(match.group(name) or "0", 16) for name, _ in _LIMITS}
        for name, limit in _LIMITS:
            if fields[name] > limit:
                raise PciAddressError(
                    f"bad PCI address {text!r}: {name} {fields[name]:#x} exceeds {limit:#x}; "
                    "expected DDDD:BB:DD.F, e.g. 0000:3b:00.0"
                )
        return cls(**fields)

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.device:02x}.{self.function:x}"
