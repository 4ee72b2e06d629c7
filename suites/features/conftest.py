"""The feature suites' pair of ports: the NIC under test and its cabled peer, both opened
by the PMD, links up, the path from the peer carrying frames."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from fixtures.pmd import PmdPort, path_ready_between, wait_link


@dataclass
class Pair:
    port: PmdPort        # the NIC under test
    peer: PmdPort        # its cabled peer


@pytest.fixture
def pair(pmd_port, peer_port) -> Pair:
    wait_link(pmd_port)
    wait_link(peer_port)
    path_ready_between(peer_port, pmd_port)
    return Pair(pmd_port, peer_port)
