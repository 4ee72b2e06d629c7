"""Allure categories: sort every non-passed result by whose fault it is.

Allure matches each result against these in order and files it under the first
that fits, so the narrow categories (lab unavailable, no IOMMU) come before the
broad status-only ones. Regexes are Java regexes matched against the WHOLE
message, hence the (?s).* around them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "categories.json"


def _anywhere(*words: str) -> str:
    """A Java regex matching a (multi-line) message that contains any of `words`."""
    return "(?s).*(" + "|".join(words) + ").*"


CATEGORIES = [
    {
        # The plugin's host fixture: no --host given, or the lab/agent could not be reached.
        "name": "Lab or host unavailable",
        "description": "The test never reached the NIC: no --host was given, or the lab or its agent "
                       "could not be booted or reached. Fix the host, then rerun.",
        "matchedStatuses": ["failed", "broken", "skipped"],
        "messageRegex": _anywhere(r"host \S+ unavailable", "needs a host under test",
                                  "HostUnreachable", "LabError"),
    },
    {
        # The plugin's host fixture skips the rest of a host's tests with this reason.
        "name": "Smoke stage failed on the host",
        "description": "The host's blocking smoke stage (agent, discovery, one bind/restore) failed, so "
                       "its other tests were skipped; the smoke test's own result says why.",
        "matchedStatuses": ["skipped"],
        "messageRegex": _anywhere("smoke stage failed"),
    },
    {
        # fixtures/evidence.py skips with this reason on hosts without an IOMMU.
        "name": "Isolation not provided (no IOMMU)",
        "description": "The host has no IOMMU: a NIC handed to user space can DMA anywhere, so the "
                       "isolation checks could not run. Enable VT-d/AMD-Vi to qualify isolation.",
        "matchedStatuses": ["skipped"],
        "messageRegex": _anywhere("isolation not provided"),
    },
    {
        "name": "Host lacks a prerequisite",
        "description": "Skipped: the host cannot offer what the test needs (IOMMU, module, driver, "
                       "--allow-uio ...); the skip reason names the fix.",
        "matchedStatuses": ["skipped"],
    },
    {
        "name": "NIC broke a promise",
        "description": "An assertion about the NIC failed: the device or its driver did not do what "
                       "the conformance check requires.",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "The suite itself broke",
        "description": "An error that is not an assertion (exception in a fixture, the agent or the "
                       "suite's own code): fix nictest, not the NIC.",
        "matchedStatuses": ["broken"],
    },
]


def write_categories(results_dir) -> Path:
    """Write categories.json into an allure-results directory (created if missing); returns its path."""
    directory = Path(results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    # Write then rename: under xdist several processes may finish at once.
    partial = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    partial.write_text(json.dumps(CATEGORIES, indent=2) + "\n")
    os.replace(partial, path)
    return path
