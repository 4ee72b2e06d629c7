"""Where the lab keeps its images and running VMs (~/.cache/nictest)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    base = os.environ.get("NICTEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nictest")
    return Path(base)


def images_dir() -> Path:
    return cache_root() / "lab" / "images"


def run_dir(lab: str) -> Path:
    return cache_root() / "lab" / "run" / lab
