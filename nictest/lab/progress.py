"""Progress lines for long lab work: stage, elapsed time, what is happening."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, title: str, stream=None):
        self.title = title
        self.start = time.monotonic()
        self.stream = stream or sys.stderr

    def say(self, stage: str, text: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"[{self.title} {elapsed:6.1f}s] {stage}: {text}", file=self.stream, flush=True)
