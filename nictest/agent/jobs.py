"""Background jobs: the one way an op runs something while the agent keeps answering.

An op starts a job under a key ("pmd_rx", port) and a later op collects it by the same
key; a job may name an owner (a port id) so that closing the owner first waits for the
job (a C receive loop must not run on a port whose rings are unmapped). Every job
has a bound (`limit_s`): at shutdown the service waits that long at most.

Futures come from concurrent.futures; each job runs on a daemon thread of its own
(not a pool's worker) so a job stuck in C can never keep the agent process alive.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Callable, Dict, Hashable, NamedTuple, Optional

from nictest.agent.service import Service
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.jobs")


class Job(NamedTuple):
    future: futures.Future
    limit_s: float          # how long the job can run at most (its own timeout plus a margin)
    owner: Optional[Hashable]


def spawn(fn: Callable[[], object], name: str) -> futures.Future:
    """Run fn() on a new daemon thread; its result or exception lands in the returned Future."""
    future: futures.Future = futures.Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - handed to whoever collects the job
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def result(future: futures.Future, timeout_s: float, still_running: str) -> object:
    """The job's result (its exception re-raised), or StateError(still_running) after timeout_s."""
    # futures.wait, not future.result(timeout): a job that itself raises TimeoutError
    # must come back as its error, not read as "still running".
    futures.wait([future], timeout=max(timeout_s, 0))
    if not future.done():
        raise StateError(still_running)
    return future.result()


class Jobs(Service):
    close_order = 10

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._jobs: Dict[Hashable, Job] = {}

    def start(self, key: Hashable, fn: Callable[[], object], limit_s: float, busy: str,
              owner: Optional[Hashable] = None) -> futures.Future:
        """Start fn() as job `key`; StateError(busy) while a job under that key still runs."""
        old = self._jobs.get(key)
        if old is not None and not old.future.done():
            raise StateError(busy)
        future = spawn(fn, "-".join(str(part) for part in (key if isinstance(key, tuple) else (key,))))
        self._jobs[key] = Job(future, limit_s, owner)
        return future

    def collect(self, key: Hashable, timeout_s: float, missing: str, still_running: str) -> object:
        """Job `key`'s result (its exception re-raised), forgotten once finished. StateError(missing)
        when there is none; StateError(still_running) after timeout_s, the job kept for a later call."""
        job = self._jobs.get(key)
        if job is None:
            raise StateError(missing)
        try:
            return result(job.future, timeout_s, still_running)
        finally:
            if job.future.done():
                del self._jobs[key]

    def settle(self, owner: Hashable, forget: bool = True) -> bool:
        """Wait (each at most its limit) for the jobs of `owner` and forget them (forget=False: keep
        them for their collect, e.g. to report an interruption); False if one still runs."""
        settled = True
        for key, job in list(self._jobs.items()):
            if job.owner != owner:
                continue
            futures.wait([job.future], timeout=job.limit_s)
            if job.future.done():
                if forget:
                    del self._jobs[key]
            else:
                log.error("job %r of %r still running after %.0f s", key, owner, job.limit_s)
                settled = False
        return settled

    def running(self) -> Dict[Hashable, bool]:
        return {key: not job.future.done() for key, job in self._jobs.items()}

    def close(self) -> None:
        deadline = time.monotonic() + max((job.limit_s for job in self._jobs.values()), default=0)
        for key, job in list(self._jobs.items()):
            futures.wait([job.future], timeout=max(deadline - time.monotonic(), 0))
            if job.future.done():
                del self._jobs[key]
            else:  # kept: its owner's close sees it and leaves the port open rather than unmap under it
                log.error("job %r still running at shutdown", key)
