"""Which Debian mirror and kernel version to build the guest from.

The guest is built from the same archive the build machine's apt already uses,
so nothing about the network is configured twice (and no host name is kept in
the repo). NICTEST_DEBIAN_MIRROR overrides.
"""
from __future__ import annotations

import glob
import os
import subprocess

from ..errors import LabError

SUITE = "bookworm"


def _deb822_uris(text: str):
    """(uri, suites) of every stanza of a .sources file."""
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        for uri in fields.get("uris", []):
            yield uri, fields.get("suites", [])


def _one_line_uris(text: str):
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "deb":
            words = [w for w in words[1:] if not w.startswith("[")]
            if len(words) >= 2:
                yield words[0], [words[1]]


def debian_mirror() -> str:
    override = os.environ.get("NICTEST_DEBIAN_MIRROR")
    if override:
        return override
    candidates = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        candidates += _deb822_uris(open(path).read())
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            candidates += _one_line_uris(open(path).read())
    for uri, suites in candidates:
        if SUITE in suites:
            return uri
    raise LabError(f"no apt source for Debian {SUITE} found in /etc/apt; "
                   "set NICTEST_DEBIAN_MIRROR to a Debian mirror URL")


def kernel_version() -> str:
    """Version of linux-image-amd64 in the main suite, as this machine's apt sees it."""
    try:
        out = subprocess.run(["apt-cache", "madison", "linux-image-amd64"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and f" {SUITE}/main " in f" {parts[2]} ":
            return parts[1]
    return "unknown"
