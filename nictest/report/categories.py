"""Allure categories: sort every non-passed result by whose fault it is.

Allure files a result under EVERY category it matches (not only the first), so the
broad status categories exclude the messages of the narrow ones (lab unavailable,
smoke failed, no IOMMU) with a negative lookahead. Regexes are Java regexes matched
against the WHOLE message, hence the (?s) and .* around them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "categories.json"


def _anywhere(*words: str) -> str:
    """A Java regex matching a (multi-line) message that contains any of `words`."""
    return "(?s).*(" + "|".join(words) + ").*"


def _nowhere(*words: str) -> str:
    """A Java regex matching a (multi-line) message that contains none of `words`."""
    return "(?s)(?!.*(" + "|".join(words) + ")).*"


# Messages of the narrow categories (from the plugin's host fixture and fixtures/evidence.py).
HOST_UNAVAILABLE = (r"host \S+ unavailable", "needs a host under test", "HostUnreachable", "LabError")
SMOKE_FAILED = ("smoke stage failed",)
NO_ISOLATION = ("isolation not provided",)


CATEGORIES = [
    {
        # The plugin's host fixture: no --host given, or the lab/agent could not be reached.
        "name": "Lab or host unavailable",
        "description": "The test never reached the NIC: no --host was given, or the lab or its agent "
                       "could not be booted or reached. Fix the host, then rerun.",
        "matchedStatuses": ["failed", "broken", "skipped"],
        "messageRegex": _anywhere(*HOST_UNAVAILABLE),
    },
    {
        # The plugin's host fixture skips the rest of a host's tests with this reason.
        "name": "Smoke stage failed on the host",
        "description": "The host's blocking smoke stage (agent, discovery, one bind/restore) failed, so "
                       "its other tests were skipped; the smoke test's own result says why.",
        "matchedStatuses": ["skipped"],
        "messageRegex": _anywhere(*SMOKE_FAILED),
    },
    {
        # fixtures/evidence.py skips with this reason on hosts without an IOMMU.
        "name": "Isolation not provided (no IOMMU)",
        "description": "The host has no IOMMU: a NIC handed to user space can DMA anywhere, so the "
                       "isolation checks could not run. Enable VT-d/AMD-Vi to qualify isolation.",
        "matchedStatuses": ["skipped"],
        "messageRegex": _anywhere(*NO_ISOLATION),
    },
    {
        "name": "Host lacks a prerequisite",
        "description": "Skipped: the host cannot offer what the test needs (IOMMU, module, driver, "
                       "--allow-uio ...); the skip reason names the fix.",
        "matchedStatuses": ["skipped"],
        "messageRegex": _nowhere(*HOST_UNAVAILABLE, *SMOKE_FAILED, *NO_ISOLATION),
    },
    {
        "name": "NIC broke a promise",
        "description": "An assertion about the NIC failed: the device or its driver did not do what "
                       "the conformance check requires.",
        "matchedStatuses": ["failed"],
        "messageRegex": _nowhere(*HOST_UNAVAILABLE),
    },
    {
        "name": "The suite itself broke",
        "description": "An error that is not an assertion (exception in a fixture, the agent or the "
                       "suite's own code): fix nictest, not the NIC.",
        "matchedStatuses": ["broken"],
        "messageRegex": _nowhere(*HOST_UNAVAILABLE),
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
