"""The host-side agent: `python3 -m nictest.agent`, one per host, speaking JSON lines.

Runs on the host under test (usually as root) with python3 >= 3.9 and the
standard library only at import time; heavier modules (cffi, pyudev) are
imported inside the ops that need them, so `hello` can report them missing.
"""
from __future__ import annotations

AGENT_VERSION = "1"
