"""The driver state of one NIC under test, modelled explicitly on the controller.

    kernel -> unbound -> vfio-pci | uio_pci_generic -> mapped -> rings up
                                    ^                             |
                                    +---------- (pmd close) ------+
    unbound | user driver | mapped | rings up -> restored -> unbound (next cycle)

Fixtures move a NIC along these edges as the agent reports each step done; an
edge that is not here (opening the PMD on a NIC still on its kernel driver,
binding one whose rings are up, a second test finding the NIC where the first
left it) raises StateError naming the current state and the allowed steps.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..errors import StateError

KERNEL = "kernel"
UNBOUND = "unbound"
VFIO = "vfio-pci"
UIO = "uio_pci_generic"
MAPPED = "mapped"
RINGS_UP = "rings up"
RESTORED = "restored"

USER_DRIVERS = (VFIO, UIO)
STATES = (KERNEL, UNBOUND, VFIO, UIO, MAPPED, RINGS_UP, RESTORED)

EDGES = {
    KERNEL: {UNBOUND},
    # A bind that fails halfway is rolled back by the agent: unbound -> restored.
    UNBOUND: {VFIO, UIO, RESTORED},
    VFIO: {MAPPED, RESTORED},
    UIO: {MAPPED, RESTORED},
    # pmd_close tears down rings and mappings together; restore closes the port first.
    MAPPED: {RINGS_UP, VFIO, UIO, RESTORED},
    RINGS_UP: {VFIO, UIO, RESTORED},
    RESTORED: {UNBOUND},
}
# The states a NIC may start a test in: on its kernel driver.
AT_REST = (KERNEL, RESTORED)


@dataclass
class Transition:
    before: str
    after: str
    at: float                     # time.monotonic() when the step was recorded
    detail: str = ""


@dataclass
class NicLifecycle:
    host: str
    address: str
    state: str = KERNEL
    driver: Optional[str] = None          # the user-space driver while bound
    history: List[Transition] = field(default_factory=list)

    def allowed(self) -> List[str]:
        edges = set(EDGES[self.state])
        if self.state in (MAPPED, RINGS_UP):  # close goes back to the driver it is bound to
            edges = {e for e in edges if e not in USER_DRIVERS or e == self.driver}
        return sorted(edges)

    def move(self, after: str, detail: str = "") -> Transition:
        if after not in STATES:
            raise StateError(f"{after!r} is not a NIC state; states: {', '.join(STATES)}")
        if after not in self.allowed():
            raise StateError(f"{self.host} {self.address}: cannot go from {self.state!r} to {after!r}"
                             f"{' (' + detail + ')' if detail else ''}; from {self.state!r} the next "
                             f"step is one of: {', '.join(self.allowed())}")
        step = Transition(self.state, after, time.monotonic(), detail)
        self.history.append(step)
        if after in USER_DRIVERS:
            self.driver = after
        elif after in (RESTORED, KERNEL, UNBOUND):
            self.driver = None
        self.state = after
        return step

    def require(self, *states: str, to: str) -> None:
        """Raise unless the NIC is in one of `states` (before an agent call that needs it)."""
        if self.state not in states:
            raise StateError(f"{self.host} {self.address} is {self.state!r}: cannot {to} "
                             f"(needs {' or '.join(repr(s) for s in states)})")

    def path(self, since: int = 0) -> str:
        """e.g. "kernel -> unbound -> vfio-pci -> mapped -> rings up -> vfio-pci -> restored"
        (the steps from history[since] on)."""
        steps = self.history[since:]
        return " -> ".join([steps[0].before] + [t.after for t in steps]) if steps else self.state


class Registry:
    """One lifecycle per (host, NIC) for a whole test session (one per process)."""

    def __init__(self) -> None:
        self._nics: Dict[Tuple[str, str], NicLifecycle] = {}
        self._lock = threading.Lock()

    def get(self, host: str, address: str) -> NicLifecycle:
        with self._lock:
            key = (host, address)
            if key not in self._nics:
                self._nics[key] = NicLifecycle(host, address)
            return self._nics[key]

    def all(self) -> List[NicLifecycle]:
        return list(self._nics.values())
