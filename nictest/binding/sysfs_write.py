"""The one place nictest writes sysfs: logged, os.open/os.write, no shell."""
from __future__ import annotations

import logging
import os
import time

from nictest.pci.sysfs import PathLike, under

log = logging.getLogger("nictest.binding")


def write(root: PathLike, path: str, value: str) -> None:
    """Write `value` to sysfs attribute `path` (written as from "/") under `root`.

    Raises OSError as the kernel returned it (e.g. ENODEV from drivers_probe);
    callers turn it into BindError with the state left.
    """
    full = under(root, path)
    started = time.monotonic()
    log.info("sysfs write %s <- %r", full, value)
    fd = os.open(full, os.O_WRONLY | os.O_CLOEXEC)
    try:
        data = value.encode()
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {full}: {written} of {len(data)} bytes")
    except OSError as exc:
        log.warning("sysfs write %s <- %r failed: %s", full, value, exc)
        raise
    finally:
        os.close(fd)
    log.debug("sysfs write %s took %.3f s", full, time.monotonic() - started)
