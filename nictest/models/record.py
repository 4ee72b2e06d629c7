"""Write a profile from a real device's config-space facts (the golden sample).

Only model facts go in: IDs, BAR sizes and types, the capability list with the
fields that describe the model, reset methods the device itself offers. Left out
on purpose: addresses, MACs, the device serial number, NUMA node, link speed and
width and the PCIe port type (they depend on the slot), and "bus" reset (it
depends on the slot too). Queues and features cannot be read from config space:
they are claims from the datasheet, copied from `claims` (an existing profile for
the same model) or left empty for a person to fill in.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from nictest.models.check import SLOT_RESET_METHODS, device_capabilities
from nictest.models.schema import FEATURE_PARAMS, SCHEMA_VERSION, validate

# The fields of each capability that describe the model; other capabilities are recorded as present.
MODEL_FIELDS = {
    "pm": ("version", "d1", "d2", "no_soft_reset"),
    "msi": ("vectors", "addr64", "maskable"),
    "msix": ("table_size", "table_bar", "table_offset", "pba_bar", "pba_offset"),
    "pcie": ("version", "flr", "max_payload"),
    "aer": ("version",),
    "ari": (),
    "sriov": ("initial_vfs", "total_vfs", "vf_device", "vf_offset", "vf_stride"),
}
UNCLAIMED_NOTE = ("recorded by `nictest profile record`: fill queues and features from the datasheet "
                  "(the feature suites test only what `features` claims)")


def profile_from_facts(facts: Dict[str, Any], claims: Optional[Dict[str, Any]] = None,
                       model: Optional[str] = None, name: Optional[str] = None) -> Dict[str, Any]:
    """A profile dict (validated) for the device `facts` describe."""
    claims = claims or {}
    ids = {key: facts[key] for key in ("vendor", "device", "subsystem_vendor", "subsystem_device", "revision",
                                       "class") if facts.get(key) is not None}
    capabilities = {cap: {field: fields[field] for field in MODEL_FIELDS.get(cap, ()) if field in fields}
                    for cap, fields in device_capabilities(facts).items()}
    profile = {
        "schema": SCHEMA_VERSION,
        "model": model or claims.get("model") or f"{ids['vendor']}-{ids['device']}",
        "name": name or claims.get("name") or "",
        "ids": ids,
        "bars": [dict(bar) for bar in facts.get("bars") or []],
        "expansion_rom": facts.get("expansion_rom"),
        "capabilities": capabilities,
        "reset_methods": [m for m in facts.get("reset_methods") or [] if m not in SLOT_RESET_METHODS],
        "queues": claims.get("queues"),
        "features": list(claims.get("features") or []),
        "notes": claims.get("notes") or UNCLAIMED_NOTE,
    }
    profile.update({key: dict(claims[key]) for key in FEATURE_PARAMS if key in claims})
    return validate(profile, "(recorded profile)")
