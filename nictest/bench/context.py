"""What every measurement group gets: the connected host, the NIC pair, the driver, knobs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from nictest.bench.progress import Progress


@dataclass
class Plan:
    """Repetitions and sizes; the defaults keep `nictest bench` well under 15 minutes on a TCG lab."""
    sizes: tuple = (64, 512, 1514)
    reps: int = 7                 # repetitions of every data-path figure
    stream_frames: int = 8000     # per kernel stream repetition (the kernel path moves ~5-50k pps)
    pmd_frames: int = 100000      # per PMD -> PMD repetition: >= 0.3 s, so one TCG hiccup does not decide it
    pingpongs: int = 200          # round trips per ping-pong repetition
    lifecycle_reps: int = 5
    agent_calls: int = 30
    fresh_ssh: int = 5
    status_runs: int = 3
    floor_reps: int = 10
    parallel_suites: tuple = ("suites/test_discovery.py", "suites/test_binding.py")
    parallel_reps: int = 2        # each pytest run is ~30-40 s on the lab
    peer_sizes: tuple = (64, 1514)  # testpmd runs (--peers): ~35 s each on the lab
    peer_reps: int = 3


@dataclass
class Context:
    host: object                  # a started nictest.hosts.Host
    host_name: str                # as given to --host
    nic: str                      # the NIC the figures are about
    peer: str                     # the NIC cabled to it
    driver: str                   # vfio-pci or uio_pci_generic
    allow_uio: bool
    progress: Progress
    plan: Plan = field(default_factory=Plan)
    pair_host: Optional[str] = None
    inventory: Optional[str] = None
