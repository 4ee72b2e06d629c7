"""Agent op `pmd_reset`: reset an open PMD port and re-initialise it (nictest.pmd.Port.reset:
"none" re-initialises only, "vfio" is VFIO_DEVICE_RESET, "device" the driver's software
reset); returns the driver's named register dump as re-initialised."""
from __future__ import annotations

import time

from nictest.agent.ops import op
from nictest.agent.ports import ports


def timed_reset(p, kind: str) -> dict:
    """Reset and re-initialise port `p`: {kind, seconds}."""
    started = time.monotonic()
    p.reset(kind)
    return {"kind": kind, "seconds": round(time.monotonic() - started, 4)}


@op("pmd_reset", port=int, kind=str)
def pmd_reset(agent, port, kind="vfio") -> dict:
    p = ports(agent).get(port)
    return {**timed_reset(p, kind), "register_dump": p.register_dump()}
