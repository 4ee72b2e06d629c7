"""Qualification: each NIC under test matches its model's profile (the golden sample).

Config space is read on the host by the agent's walker (sysfs `config`: the
capability list and the PCIe extended list), never by parsing lspci. The profile
is found by vendor:device along `--profiles DIR` then nictest/models/; a NIC with
no profile skips once, naming the command that records one. Every difference is
reported with the profile file and entry it contradicts.
"""
from __future__ import annotations

import allure
import pytest

from nictest import models

pytestmark = pytest.mark.lab


def test_config_space_walks_cleanly(nic, nic_config):
    """Model-independent: the header and both capability lists are readable and well-formed."""
    assert nic_config["config_size"] >= 256, (
        f"{nic['address']}: only {nic_config['config_size']} bytes of config space are readable")
    assert (nic_config["vendor"], nic_config["device"]) == (nic["vendor"], nic["device"]), (
        f"{nic['address']}: config space says {nic_config['vendor']}:{nic_config['device']}, "
        f"sysfs says {nic['vendor']}:{nic['device']}")
    assert not nic_config["problems"], f"{nic['address']}: " + "; ".join(nic_config["problems"])


@pytest.mark.profile   # the qualification report's "profile" row
def test_nic_matches_its_model_profile(nic, nic_config, nic_profile):
    """IDs, BARs, capabilities (with their key fields) and reset methods, each difference named.

    One test per NIC, so a NIC without a profile is one skip; config-space problems
    are test_config_space_walks_cleanly's, not repeated here.
    """
    allure.dynamic.parameter("profile", nic_profile.path)
    differences = [m for m in models.check(nic_profile, nic_config) if m.section != "config"]
    lines = [f"[{m.section}] {m.message(nic_profile.path, nic['address'])}" for m in differences]
    assert not differences, (f"{nic['address']} ({nic['vendor']}:{nic['device']}) differs from the "
                             f"{nic_profile.model} profile in {len(differences)} entries:\n  " + "\n  ".join(lines))
