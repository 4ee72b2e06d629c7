"""Qualification profiles: one data file per NIC model (layer 5b, below the agent, above pci).

Each `<model>.json` beside this module says what the model is: IDs, BARs,
capabilities, reset methods, queue counts, and the features it claims (the
feature suites test exactly those). `suites/test_profile.py` checks every NIC
under test against its model's profile; `nictest profile record` writes one from
a known-good unit. Standard library only, Python >= 3.9 (the data is JSON, so the
same files load on a host without tomllib).
"""
from __future__ import annotations

from nictest.models.check import Mismatch, check
from nictest.models.loader import BUNDLED_DIR, Profile, bundled_profiles, find_profile, load_dir, load_profile
from nictest.models.record import profile_from_facts
from nictest.models.schema import FEATURES

__all__ = ["BUNDLED_DIR", "FEATURES", "Mismatch", "Profile", "bundled_profiles", "check", "find_profile",
           "load_dir", "load_profile", "profile_from_facts"]
