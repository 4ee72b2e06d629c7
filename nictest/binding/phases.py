"""Wall time of each step of one bind or restore (checks, journal, unbind, probe, netdev, link),
returned with the op's result so `nictest bench` can say where the time goes."""
from __future__ import annotations

import time
from typing import Dict


class Phases:
    def __init__(self) -> None:
        self._last = time.monotonic()
        self.seconds: Dict[str, float] = {}

    def mark(self, name: str) -> None:
        """The time since the previous mark (or the start) belongs to `name`; a name marked
        twice (the journal's write and its update) adds up."""
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 4)
        self._last = now
