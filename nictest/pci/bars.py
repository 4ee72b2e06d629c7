"""BARs and expansion ROM from a device's sysfs `resource` file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

# include/linux/ioport.h
IORESOURCE_IO = 0x00000100
IORESOURCE_MEM = 0x00000200
IORESOURCE_PREFETCH = 0x00002000
IORESOURCE_MEM_64 = 0x00100000

ROM_INDEX = 6  # lines 0-5 are BARs, 6 the ROM, 7+ bridge windows (not ours)


@dataclass(frozen=True)
class Bar:
    index: int
    start: int
    end: int
    flags: int

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def is_rom(self) -> bool:
        return self.index == ROM_INDEX

    @property
    def kind(self) -> str:
        """"io", "mem" or "unknown" from the IORESOURCE flags."""
        if self.flags & IORESOURCE_IO:
            return "io"
        if self.flags & IORESOURCE_MEM:
            return "mem"
        return "unknown"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "size": self.size,
            "flags": self.flags,
            "kind": self.kind,
            "prefetchable": bool(self.flags & IORESOURCE_PREFETCH),
            "is_64bit": bool(self.flags & IORESOURCE_MEM_64),
            "rom": self.is_rom,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> Bar:
        return cls(index=data["index"], start=data["start"], end=data["end"], flags=data["flags"])


def parse_resource(text: str) -> List[Bar]:
    """Non-empty BARs (0-5) and ROM (6) from `resource`: lines of "start end flags" in hex."""
    bars = []
    for index, line in enumerate(text.splitlines()[: ROM_INDEX + 1]):
        fields = line.split()
        if len(fields) != 3:
            continue
        try:
            start, end, flags = (int(field, 16) for field in fields)
        except ValueError:
            continue
        if start == 0 and end == 0:
            continue  # unused slot
        bars.append(Bar(index=index, start=start, end=end, flags=flags))
    return bars
