"""Agent op `agent_resources`: what this agent process and the host hold right now.

Endurance runs compare it first and last: open file descriptors and RSS of the
agent, free/total 2 MiB hugepages, and the /dev/vfio nodes that exist. A leak in
the PMD (an fd, a DMA mapping, a hugepage) shows as a difference here.
"""
from __future__ import annotations

import gc
import os
import sys
from typing import List, Optional

from nictest.agent.ops import op

HUGEPAGES_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB"


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _status_kb(field: str) -> Optional[int]:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM...)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _vfio_nodes() -> List[str]:
    try:
        return sorted(os.listdir("/dev/vfio"))
    except OSError:
        return []


def _release_free_memory() -> None:
    """gc, then glibc malloc_trim(0): free heap pages go back to the kernel, so RSS shows what is
    live rather than where the allocator's heap top happens to sit (best effort off glibc)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@op("agent_resources", trim=bool)
def agent_resources(agent, trim=False) -> dict:
    if trim:
        _release_free_memory()
    return {
        "pid": os.getpid(),
        "open_fds": len(os.listdir("/proc/self/fd")) - 1,  # minus the fd listdir itself opened
        "rss_kb": _status_kb("VmRSS"),
        # VmRSS's parts: anonymous memory (heap, arenas: where a leak grows) and file-backed
        # pages (libraries, the PMD module: resident or not as the page cache reclaims them).
        "rss_anon_kb": _status_kb("RssAnon"),
        "rss_file_kb": _status_kb("RssFile"),
        "threads": len(os.listdir("/proc/self/task")),
        "py_blocks": sys.getallocatedblocks(),   # Python heap blocks: tells a Python leak from C/allocator growth
        "gc_objects": len(gc.get_objects()),
        "hugepages_free": _read_int(f"{HUGEPAGES_2M}/free_hugepages"),
        "hugepages_total": _read_int(f"{HUGEPAGES_2M}/nr_hugepages"),
        "vfio_nodes": _vfio_nodes(),
    }
