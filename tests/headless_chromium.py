"""Debian's chromium, headless, on a closed network: render a page, dump its DOM, screenshot it."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium waits on services it cannot reach here.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
WINDOW = (1400, 1000)
RENDER_BUDGET_MS = 20000   # virtual time the page's scripts get before the dump
TIMEOUT = 240              # wall seconds; the machine is shared and slow


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run bash .ci/setup (installs Debian's chromium)", pytrace=False)


def _run(url: str, *action: str) -> subprocess.CompletedProcess:
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="nictest-chromium-") as profile:  # a fresh profile each time
        command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                   f"--virtual-time-budget={RENDER_BUDGET_MS}", *action, url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done


def dump_dom(url: str) -> str:
    """The page's DOM after its scripts ran (what a reader would see)."""
    return _run(url, "--dump-dom").stdout


def screenshot(url: str, png: Path) -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _run(url, f"--screenshot={png}")
    assert png.exists(), f"chromium wrote no screenshot {png}"
