"""What a qualification profile file may say, checked key by key.

A profile is one JSON object (JSON, not TOML: hosts run Python >= 3.9 and tomllib
is 3.11+; the standard library's json reads it on both sides). Every error names
the file and the key path, e.g. `igb.json: capabilities.msix.table_size: ...`.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List

from nictest.errors import ProfileError

SCHEMA_VERSION = 1

# What the feature suites may look for; a model claims a subset (only what its datasheet says it does).
FEATURES = ("mtu", "vlan", "checksum", "filters", "rss", "stats", "queue_control", "link", "interrupts",
            "reset", "pcie_health", "kernel_path", "sriov")
# A claimed feature that cannot exist without this capability in the same profile.
FEATURE_NEEDS_CAPABILITY = {"sriov": "sriov", "pcie_health": "pcie"}

# What a model promises for a claimed feature, as a top-level key named after the feature
# (e.g. "mtu": {"max_frame": 9018}); the feature suites read these, never a datasheet table of their own.
FEATURE_PARAMS = {
    # max_frame: largest frame received whole, bytes with FCS; oversize_counted (default true): a frame
    # dropped for its length counts in the oversize counter
    "mtu": {"max_frame": int, "oversize_counted": bool},
    "filters": {"unicast_entries": int},       # exact unicast address filters, the primary included
    "stats": {"octets_include_fcs": bool},     # byte counters count the 4-byte FCS of each frame
    # self_test (default true): the kernel driver's offline self-test (ethtool -t offline) passes; false where
    # the sample fails it (it is still run, recorded and attached)
    "kernel_path": {"self_test": bool},
    # udp_ports (default true): RSS hashes an IPv4/UDP frame over its ports too (hash type ipv4_udp); false
    # where the MAC has no UDP field and hashes such a frame over its addresses (hash type ipv4)
    "rss": {"udp_ports": bool},
}
FEATURE_PARAMS_REQUIRED = {"mtu": ("max_frame",), "filters": ("unicast_entries",),
                           "stats": ("octets_include_fcs",)}

BAR_TYPES = ("io", "mem32", "mem64")
TOP_LEVEL = ("schema", "model", "name", "ids", "bars", "expansion_rom", "capabilities", "reset_methods",
             "queues", "features", "notes") + tuple(FEATURE_PARAMS)
REQUIRED = ("schema", "model", "ids", "bars", "capabilities", "reset_methods", "features")
ID_KEYS = {"vendor": 4, "device": 4, "subsystem_vendor": 4, "subsystem_device": 4, "revision": 2, "class": 6}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# The fields the walker (nictest.pci.capabilities) reports for the capabilities it decodes, and their
# JSON types; other capabilities are presence only ({}), or carry fields a vendor adds by hand.
CAPABILITY_FIELDS = {
    "pm": {"version": int, "d1": bool, "d2": bool, "no_soft_reset": bool},
    "msi": {"vectors": int, "addr64": bool, "maskable": bool},
    "msix": {"table_size": int, "table_bar": int, "table_offset": int, "pba_bar": int, "pba_offset": int},
    "pcie": {"version": int, "type": str, "flr": bool, "max_payload": int, "max_link_speed": str,
             "max_link_width": int},
    "aer": {"version": int},
    "ari": {"next_function": int},
    "sriov": {"initial_vfs": int, "total_vfs": int, "num_vfs": int, "vf_offset": int, "vf_stride": int,
              "vf_device": str},
}
_TYPE_WORDS = {int: "an integer", bool: "true or false", str: "a string"}


class Checker:
    """Raises ProfileError("FILE: KEY: problem") for the first thing wrong."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> None:
        raise ProfileError(f"{self.path}: {key}: {problem}")

    def typed(self, key: str, value: Any, kind, what: str) -> Any:
        # bool is an int in Python: refuse it where a number is meant
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(key, f"expected {what}, got {value!r}")
        return value

    def hex_id(self, key: str, value: Any, digits: int) -> str:
        if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{digits}}}", value):
            self.fail(key, f"expected {digits} lowercase hex digits as a string (e.g. \"{'0' * digits}\"), got {value!r}")
        return value


def validate(data: Any, path: str) -> Dict[str, Any]:
    """`data` if it is a well-formed profile, else ProfileError naming `path` and the key."""
    c = Checker(path)
    c.typed("(top level)", data, dict, "a JSON object")
    for key in data:
        if key not in TOP_LEVEL:
            c.fail(key, f"unknown key; a profile has {', '.join(TOP_LEVEL)}")
    for key in REQUIRED:
        if key not in data:
            c.fail(key, "missing (required)")
    if data["schema"] != SCHEMA_VERSION:
        c.fail("schema", f"this nictest reads schema {SCHEMA_VERSION}, the file says {data['schema']!r}")
    c.typed("model", data["model"], str, "a model name string")
    if "name" in data:
        c.typed("name", data["name"], str, "a string")
    if "notes" in data:
        c.typed("notes", data["notes"], str, "a string")
    _validate_ids(c, data["ids"])
    _validate_bars(c, data["bars"])
    rom = data.get("expansion_rom")
    if rom is not None:
        c.typed("expansion_rom", rom, dict, "null or {\"size\": BYTES}")
        c.typed("expansion_rom.size", rom.get("size"), int, "the ROM size in bytes")
    _validate_capabilities(c, data["capabilities"])
    for i, method in enumerate(c.typed("reset_methods", data["reset_methods"], list, "a list of strings")):
        c.typed(f"reset_methods[{i}]", method, str, "a reset method name as sysfs reset_method lists it")
    queues = data.get("queues")
    if queues is not None:
        c.typed("queues", queues, dict, "null or {\"rx\": N, \"tx\": N}")
        for key in ("rx", "tx"):
            if c.typed(f"queues.{key}", queues.get(key), int, "a queue count") < 1:
                c.fail(f"queues.{key}", "a model has at least one queue")
    _validate_features(c, data["features"], data["capabilities"])
    _validate_feature_params(c, data)
    return data


def _validate_feature_params(c: Checker, data: Dict[str, Any]) -> None:
    for feature, fields in FEATURE_PARAMS.items():
        if feature not in data:
            continue
        params = c.typed(feature, data[feature], dict, f"an object of {', '.join(fields)}")
        if feature not in data["features"]:
            c.fail(feature, f"parameters for {feature!r}, which features does not claim (claim it or drop the key)")
        for key, value in params.items():
            if key not in fields:
                c.fail(f"{feature}.{key}", f"unknown key; {feature} has {', '.join(fields)}")
            c.typed(f"{feature}.{key}", value, fields[key], _TYPE_WORDS[fields[key]])
            if fields[key] is int and value <= 0:
                c.fail(f"{feature}.{key}", f"expected a positive number, got {value}")


def _validate_ids(c: Checker, ids: Any) -> None:
    c.typed("ids", ids, dict, "an object with vendor and device")
    for key in ("vendor", "device"):
        if key not in ids:
            c.fail(f"ids.{key}", "missing (required)")
    for key, value in ids.items():
        if key not in ID_KEYS:
            c.fail(f"ids.{key}", f"unknown key; ids has {', '.join(ID_KEYS)}")
        c.hex_id(f"ids.{key}", value, ID_KEYS[key])


def _validate_bars(c: Checker, bars: Any) -> None:
    seen = set()
    for i, bar in enumerate(c.typed("bars", bars, list, "a list of BARs")):
        key = f"bars[{i}]"
        c.typed(key, bar, dict, "{index, size, type, prefetchable}")
        index = c.typed(f"{key}.index", bar.get("index"), int, "a BAR index 0-5")
        if not 0 <= index <= 5 or index in seen:
            c.fail(f"{key}.index", f"{index} is not a new BAR index 0-5")
        seen.add(index)
        size = c.typed(f"{key}.size", bar.get("size"), int, "the BAR size in bytes")
        if size <= 0 or size & (size - 1):
            c.fail(f"{key}.size", f"{size} is not a power of two (BAR sizes always are)")
        if bar.get("type") not in BAR_TYPES:
            c.fail(f"{key}.type", f"expected one of {', '.join(BAR_TYPES)}, got {bar.get('type')!r}")
        c.typed(f"{key}.prefetchable", bar.get("prefetchable"), bool, "true or false")
        extra = set(bar) - {"index", "size", "type", "prefetchable"}
        if extra:
            c.fail(f"{key}.{sorted(extra)[0]}", "unknown key; a BAR has index, size, type, prefetchable")


def _validate_capabilities(c: Checker, caps: Any) -> None:
    c.typed("capabilities", caps, dict, "an object {name: {field: value}}")
    for name, fields in caps.items():
        if not _NAME.match(name):
            c.fail(f"capabilities.{name}", "capability names are lowercase (pm, msi, msix, pcie, aer, ari, sriov...)")
        c.typed(f"capabilities.{name}", fields, dict, "an object of the capability's fields ({} for presence only)")
        known = CAPABILITY_FIELDS.get(name)
        for field, value in fields.items():
            key = f"capabilities.{name}.{field}"
            if known is None:
                if not isinstance(value, (int, str, bool)):
                    c.fail(key, f"expected a number, string or boolean, got {value!r}")
            elif field not in known:
                c.fail(key, f"unknown field; {name} has {', '.join(known)}")
            else:
                c.typed(key, value, known[field], _TYPE_WORDS[known[field]])


def _validate_features(c: Checker, features: Any, caps: Dict[str, Any]) -> None:
    listed: List[str] = []
    for i, feature in enumerate(c.typed("features", features, list, "a list of feature names")):
        if feature not in FEATURES:
            c.fail(f"features[{i}]", f"unknown feature {feature!r}; known: {', '.join(FEATURES)}")
        if feature in listed:
            c.fail(f"features[{i}]", f"{feature!r} is listed twice")
        needed = FEATURE_NEEDS_CAPABILITY.get(feature)
        if needed and needed not in caps:
            c.fail(f"features[{i}]", f"claims {feature!r} but capabilities has no {needed!r}")
        listed.append(feature)
