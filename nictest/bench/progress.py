"""One line per stage on stderr while the benchmark runs: what, how many reps, elapsed."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator


class Progress:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self, text: str) -> None:
        print(f"[bench {self.elapsed():6.1f}s] {text}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, what: str, reps: int) -> Iterator[None]:
        """Announce a stage and, when it ends, how long it took (or that it failed)."""
        self.line(f"{what} x{reps} ...")
        t0 = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self.line(f"{what}: FAILED after {time.monotonic() - t0:.1f} s: {type(exc).__name__}")
            raise
        self.line(f"{what}: done in {time.monotonic() - t0:.1f} s")
