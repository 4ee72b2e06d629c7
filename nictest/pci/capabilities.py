"""Walk a PCI function's configuration space: header, capability list, PCIe extended list.

Pure functions over the bytes of sysfs `config` (or a recording of it), so the
walker is tested on recorded bytes and runs unchanged in the agent. Read-only:
nothing here writes config space. Offsets and field layouts follow the PCI
Local Bus 3.0 and PCI Express Base specifications (Linux include/uapi/linux/pci_regs.h
names them PCI_* / PCI_EXP_* / PCI_SRIOV_*).

A broken list (a pointer into the header, past the end, or a loop) is reported
in `problems`, never raised: a device with a bad list is a finding, not a crash.
"""
from __future__ import annotations

import os
import struct
from typing import Any, Dict, List, Optional, Tuple

# Type 0 header (PCI Local Bus 3.0, 6.1)
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_STATUS = 0x06
PCI_STATUS_CAP_LIST = 0x10
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09
PCI_HEADER_TYPE = 0x0E
PCI_BASE_ADDRESS_0 = 0x10
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_ROM_ADDRESS = 0x30
PCI_CAPABILITY_LIST = 0x34
PCI_INTERRUPT_PIN = 0x3D
PCI_STD_HEADER_SIZEOF = 0x40
PCI_CFG_SPACE_SIZE = 256
PCI_CFG_SPACE_EXP_SIZE = 4096
PCI_EXT_CAP_START = 0x100

# BAR register low bits
PCI_BASE_ADDRESS_SPACE_IO = 0x01
PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x06
PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04
PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08

# Standard capability IDs -> the names profiles use
CAP_NAMES = {
    0x01: "pm", 0x02: "agp", 0x03: "vpd", 0x04: "slot_id", 0x05: "msi", 0x06: "hot_swap",
    0x07: "pcix", 0x08: "hypertransport", 0x09: "vendor_specific", 0x0A: "debug_port",
    0x0C: "hotplug", 0x0D: "bridge_subsystem_vendor", 0x10: "pcie", 0x11: "msix",
    0x12: "sata", 0x13: "af",
}
# Extended capability IDs (PCIe Base 7.x)
EXT_CAP_NAMES = {
    0x0001: "aer", 0x0002: "vc", 0x0003: "dsn", 0x0004: "power_budget", 0x000B: "vendor_specific_ext",
    0x000D: "acs", 0x000E: "ari", 0x000F: "ats", 0x0010: "sriov", 0x0013: "pri", 0x0015: "resizable_bar",
    0x0017: "tph", 0x0018: "ltr", 0x0019: "secondary_pcie", 0x001B: "pasid", 0x001E: "l1ss",
    0x0023: "dvsec", 0x0025: "dlf", 0x0026: "pl_16gt",
}

# PCI Express capability (PCI_EXP_*)
PCI_EXP_FLAGS = 0x02
PCI_EXP_DEVCAP = 0x04
PCI_EXP_DEVCAP_PAYLOAD = 0x07
PCI_EXP_DEVCAP_FLR = 1 << 28
PCI_EXP_LNKCAP = 0x0C
PCIE_PORT_TYPES = {
    0x0: "endpoint", 0x1: "legacy_endpoint", 0x4: "root_port", 0x5: "upstream_port",
    0x6: "downstream_port", 0x7: "pcie_to_pci_bridge", 0x8: "pci_to_pcie_bridge",
    0x9: "rc_integrated_endpoint", 0xA: "rc_event_collector",
}
PCIE_TYPES_WITH_LINK = {0x0, 0x1, 0x4, 0x5, 0x6, 0x7, 0x8}
LINK_SPEEDS = {1: "2.5 GT/s", 2: "5 GT/s", 3: "8 GT/s", 4: "16 GT/s", 5: "32 GT/s", 6: "64 GT/s"}

# Power management (PCI PM 1.2)
PCI_PM_PMC = 0x02
PCI_PM_CAP_VER_MASK = 0x0007
PCI_PM_CAP_D1 = 0x0200
PCI_PM_CAP_D2 = 0x0400
PCI_PM_CTRL = 0x04
PCI_PM_CTRL_NO_SOFT_RESET = 0x0008

# MSI / MSI-X
PCI_MSI_FLAGS = 0x02
PCI_MSI_FLAGS_QMASK = 0x000E
PCI_MSI_FLAGS_64BIT = 0x0080
PCI_MSI_FLAGS_MASKBIT = 0x0100
PCI_MSIX_FLAGS = 0x02
PCI_MSIX_FLAGS_QSIZE = 0x07FF
PCI_MSIX_TABLE = 0x04
PCI_MSIX_PBA = 0x08
PCI_MSIX_BIR = 0x7

# ARI / SR-IOV extended capabilities
PCI_ARI_CAP = 0x04
PCI_SRIOV_INITIAL_VF = 0x0C
PCI_SRIOV_TOTAL_VF = 0x0E
PCI_SRIOV_NUM_VF = 0x10
PCI_SRIOV_VF_OFFSET = 0x14
PCI_SRIOV_VF_STRIDE = 0x16
PCI_SRIOV_VF_DID = 0x1A

# A standard list has at most (256 - 64) / 4 entries, an extended one (4096 - 256) / 4.
MAX_STD_CAPS = 48
MAX_EXT_CAPS = 960


class _Config:
    """Little-endian reads that answer None past the end (config may be 64 or 256 bytes)."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)

    def u8(self, offset: int) -> Optional[int]:
        return self.data[offset] if 0 <= offset < len(self.data) else None

    def u16(self, offset: int) -> Optional[int]:
        if offset < 0 or offset + 2 > len(self.data):
            return None
        return struct.unpack_from("<H", self.data, offset)[0]

    def u32(self, offset: int) -> Optional[int]:
        if offset < 0 or offset + 4 > len(self.data):
            return None
        return struct.unpack_from("<I", self.data, offset)[0]

    @property
    def size(self) -> int:
        return len(self.data)


class ConfigFile(_Config):
    """The same reads straight from a sysfs `config` file, each one a pread: on a VM every
    config read traps, so a walk that needs a few registers should not read all 4 KiB."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def _read(self, offset: int, length: int) -> Optional[bytes]:
        if offset < 0 or offset + length > self._size:
            return None
        raw = os.pread(self._fd, length, offset)
        return raw if len(raw) == length else None

    def u8(self, offset: int) -> Optional[int]:
        raw = self._read(offset, 1)
        return None if raw is None else raw[0]

    def u16(self, offset: int) -> Optional[int]:
        raw = self._read(offset, 2)
        return None if raw is None else int.from_bytes(raw, "little")

    def u32(self, offset: int) -> Optional[int]:
        raw = self._read(offset, 4)
        return None if raw is None else int.from_bytes(raw, "little")

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "ConfigFile":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _hex4(value: Optional[int]) -> Optional[str]:
    return None if value is None else f"{value:04x}"


def _pm_fields(cfg: _Config, at: int) -> Dict[str, Any]:
    pmc, ctrl = cfg.u16(at + PCI_PM_PMC), cfg.u16(at + PCI_PM_CTRL)
    if pmc is None or ctrl is None:
        return {}
    return {"version": pmc & PCI_PM_CAP_VER_MASK, "d1": bool(pmc & PCI_PM_CAP_D1),
            "d2": bool(pmc & PCI_PM_CAP_D2), "no_soft_reset": bool(ctrl & PCI_PM_CTRL_NO_SOFT_RESET)}


def _msi_fields(cfg: _Config, at: int) -> Dict[str, Any]:
    flags = cfg.u16(at + PCI_MSI_FLAGS)
    if flags is None:
        return {}
    return {"vectors": 1 << ((flags & PCI_MSI_FLAGS_QMASK) >> 1), "addr64": bool(flags & PCI_MSI_FLAGS_64BIT),
            "maskable": bool(flags & PCI_MSI_FLAGS_MASKBIT)}


def _msix_fields(cfg: _Config, at: int) -> Dict[str, Any]:
    flags, table, pba = cfg.u16(at + PCI_MSIX_FLAGS), cfg.u32(at + PCI_MSIX_TABLE), cfg.u32(at + PCI_MSIX_PBA)
    if flags is None or table is None or pba is None:
        return {}
    return {"table_size": (flags & PCI_MSIX_FLAGS_QSIZE) + 1,
            "table_bar": table & PCI_MSIX_BIR, "table_offset": table & ~PCI_MSIX_BIR,
            "pba_bar": pba & PCI_MSIX_BIR, "pba_offset": pba & ~PCI_MSIX_BIR}


def _pcie_fields(cfg: _Config, at: int) -> Dict[str, Any]:
    flags, devcap = cfg.u16(at + PCI_EXP_FLAGS), cfg.u32(at + PCI_EXP_DEVCAP)
    if flags is None or devcap is None:
        return {}
    port_type = (flags >> 4) & 0xF
    fields: Dict[str, Any] = {
        "version": flags & 0xF,
        "type": PCIE_PORT_TYPES.get(port_type, f"type_{port_type:x}"),
        "flr": bool(devcap & PCI_EXP_DEVCAP_FLR),
        "max_payload": 128 << (devcap & PCI_EXP_DEVCAP_PAYLOAD),
    }
    lnkcap = cfg.u32(at + PCI_EXP_LNKCAP)
    if port_type in PCIE_TYPES_WITH_LINK and lnkcap is not None:  # RC integrated endpoints have no link
        fields["max_link_speed"] = LINK_SPEEDS.get(lnkcap & 0xF, f"code {lnkcap & 0xF}")
        fields["max_link_width"] = (lnkcap >> 4) & 0x3F
    return fields


def _aer_fields(cfg: _Config, at: int, version: int) -> Dict[str, Any]:
    return {"version": version}


def _ari_fields(cfg: _Config, at: int, version: int) -> Dict[str, Any]:
    cap = cfg.u16(at + PCI_ARI_CAP)
    return {} if cap is None else {"next_function": (cap >> 8) & 0xFF}


def _sriov_fields(cfg: _Config, at: int, version: int) -> Dict[str, Any]:
    words = [cfg.u16(at + off) for off in (PCI_SRIOV_INITIAL_VF, PCI_SRIOV_TOTAL_VF, PCI_SRIOV_NUM_VF,
                                           PCI_SRIOV_VF_OFFSET, PCI_SRIOV_VF_STRIDE, PCI_SRIOV_VF_DID)]
    if None in words:
        return {}
    initial, total, num, offset, stride, vf_device = words
    return {"initial_vfs": initial, "total_vfs": total, "num_vfs": num, "vf_offset": offset,
            "vf_stride": stride, "vf_device": _hex4(vf_device)}


STD_FIELDS = {0x01: _pm_fields, 0x05: _msi_fields, 0x11: _msix_fields, 0x10: _pcie_fields}
EXT_FIELDS = {0x0001: _aer_fields, 0x000E: _ari_fields, 0x0010: _sriov_fields}


def walk_standard(cfg: _Config, problems: List[str]) -> List[Dict[str, Any]]:
    """The capability list from PCI_CAPABILITY_LIST, in list order."""
    status = cfg.u16(PCI_STATUS)
    if status is None or not status & PCI_STATUS_CAP_LIST:
        return []
    caps: List[Dict[str, Any]] = []
    seen = set()
    pointer = cfg.u8(PCI_CAPABILITY_LIST)
    while pointer:
        at = pointer & ~0x3  # the bottom two bits are reserved
        if at < PCI_STD_HEADER_SIZEOF or at + 2 > min(cfg.size, PCI_CFG_SPACE_SIZE):
            problems.append(f"capability pointer 0x{pointer:02x} is outside 0x40..0xff "
                            f"(or past the {cfg.size} readable bytes)")
            break
        if at in seen or len(caps) >= MAX_STD_CAPS:
            problems.append(f"capability list loops back to 0x{at:02x}")
            break
        seen.add(at)
        cap_id = cfg.u8(at)
        cap = {"id": cap_id, "offset": at, "name": CAP_NAMES.get(cap_id, f"cap_{cap_id:02x}")}
        cap.update(STD_FIELDS.get(cap_id, lambda c, a: {})(cfg, at))
        caps.append(cap)
        pointer = cfg.u8(at + 1)
    return caps


def walk_extended(cfg: _Config, problems: List[str]) -> List[Dict[str, Any]]:
    """The PCIe extended capability list from 0x100 (needs the 4096-byte config of a PCIe function)."""
    if cfg.size < PCI_CFG_SPACE_EXP_SIZE:
        return []
    caps: List[Dict[str, Any]] = []
    seen = set()
    at = PCI_EXT_CAP_START
    while at:
        header = cfg.u32(at)
        if header in (None, 0, 0xFFFFFFFF):  # 0: no extended caps; all ones: not readable
            break
        if at in seen or len(caps) >= MAX_EXT_CAPS:
            problems.append(f"extended capability list loops back to 0x{at:03x}")
            break
        seen.add(at)
        cap_id, version, following = header & 0xFFFF, (header >> 16) & 0xF, (header >> 20) & 0xFFC
        cap = {"id": cap_id, "offset": at, "version": version,
               "name": EXT_CAP_NAMES.get(cap_id, f"ext_{cap_id:04x}")}
        cap.update(EXT_FIELDS.get(cap_id, lambda c, a, v: {})(cfg, at, version))
        caps.append(cap)
        if following and following < PCI_EXT_CAP_START:
            problems.append(f"extended capability at 0x{at:03x} points into the standard space (0x{following:03x})")
            break
        at = following
    return caps


def bar_registers(cfg: _Config) -> List[Dict[str, Any]]:
    """What each BAR register of a type 0 header says about itself (type, prefetchable).

    Sizes are not probed here (that needs writes): they come from sysfs `resource`.
    A 64-bit BAR's upper half is skipped, as the kernel numbers BARs.
    """
    if (cfg.u8(PCI_HEADER_TYPE) or 0) & 0x7F != 0:
        return []
    bars = []
    index = 0
    while index < 6:
        value = cfg.u32(PCI_BASE_ADDRESS_0 + 4 * index)
        if value is None:
            break
        if value == 0:  # not implemented (or never assigned): `resource` has no line for it either
            index += 1
            continue
        if value & PCI_BASE_ADDRESS_SPACE_IO:
            bars.append({"index": index, "type": "io", "prefetchable": False})
            index += 1
            continue
        is64 = (value & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64
        bars.append({"index": index, "type": "mem64" if is64 else "mem32",
                     "prefetchable": bool(value & PCI_BASE_ADDRESS_MEM_PREFETCH)})
        index += 2 if is64 else 1
    return bars


def walk(data: bytes) -> Dict[str, Any]:
    """Everything the header and both capability lists say, as a JSON-safe dict."""
    cfg = _Config(data)
    problems: List[str] = []
    if len(cfg.data) < PCI_STD_HEADER_SIZEOF:
        problems.append(f"only {len(cfg.data)} bytes of config space are readable (need 64: run as root)")
        return {"config_size": len(cfg.data), "problems": problems, "capabilities": [], "extended_capabilities": []}
    if len(cfg.data) == PCI_STD_HEADER_SIZEOF:
        problems.append("only the 64-byte header is readable: capabilities need root")
    class_word = cfg.u32(PCI_REVISION_ID)
    header_type = cfg.u8(PCI_HEADER_TYPE)
    return {
        "config_size": len(cfg.data),
        "vendor": _hex4(cfg.u16(PCI_VENDOR_ID)),
        "device": _hex4(cfg.u16(PCI_DEVICE_ID)),
        "revision": f"{class_word & 0xFF:02x}",
        "class": f"{class_word >> 8:06x}",
        "command": cfg.u16(PCI_COMMAND),  # live, not cached: what the device's decoders are set to now
        "header_type": header_type & 0x7F,
        "multifunction": bool(header_type & 0x80),
        "subsystem_vendor": _hex4(cfg.u16(PCI_SUBSYSTEM_VENDOR_ID)) if header_type & 0x7F == 0 else None,
        "subsystem_device": _hex4(cfg.u16(PCI_SUBSYSTEM_ID)) if header_type & 0x7F == 0 else None,
        "interrupt_pin": cfg.u8(PCI_INTERRUPT_PIN),
        "bar_registers": bar_registers(cfg),
        "capabilities": walk_standard(cfg, problems),
        "extended_capabilities": walk_extended(cfg, problems),
        "problems": problems,
    }


def by_name(caps: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """{name: capability} (the first of a name: vendor-specific ones may repeat)."""
    out: Dict[str, Dict[str, Any]] = {}
    for cap in caps:
        out.setdefault(cap["name"], cap)
    return out


def names(walked: Dict[str, Any]) -> Tuple[str, ...]:
    """Every capability name of a walk(), standard then extended."""
    return tuple(c["name"] for c in walked["capabilities"]) + tuple(c["name"] for c in walked["extended_capabilities"])
