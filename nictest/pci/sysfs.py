"""Read-only helpers over a sysfs/procfs tree rooted anywhere (a live "/" or a recording).

Every reader returns None instead of raising when an attribute is absent or
unreadable: real sysfs has attributes that vanish with the driver or return
EINVAL (e.g. `carrier` on a down link), and discovery must not crash on them.
"""
from __future__ import annotations

import os
from typing import List, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

# Sysfs attributes discovery reads are a few bytes; never slurp more.
_MAX_ATTR_BYTES = 65536


def under(root: PathLike, *parts: str) -> str:
    """`root` joined with a path written as if from "/" (leading slash ignored)."""
    return os.path.join(os.fspath(root), *(p.lstrip("/") for p in parts))


def read_text(path: str) -> Optional[str]:
    """The stripped contents of a small text file, or None if it can't be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_ATTR_BYTES)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace").strip()


def read_int(path: str, base: int = 10) -> Optional[int]:
    text = read_text(path)
    if text is None or text == "":
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def link_name(path: str) -> Optional[str]:
    """Basename of a symlink's target, without resolving it.

    readlink + basename (not realpath) keeps recorded trees with relative
    links working no matter where they are unpacked.
    """
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return os.path.basename(target.rstrip("/")) or None


def list_dir(path: str) -> List[str]:
    """Sorted entry names, or [] when the directory is absent."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def read_whole(path: str) -> Optional[str]:
    """A whole text file (route tables, modules.alias), or None if it can't be read.

    Unlike read_text this never truncates: a cut-off route table could hide
    the route that makes a NIC active.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None
