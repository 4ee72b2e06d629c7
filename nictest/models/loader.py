"""Load profile files and find the one for a vendor:device.

Search order: the directories given (a vendor's own profiles, `--profiles DIR`),
then the bundled ones beside this module. Within one directory two files for the
same vendor:device are an error naming both.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from nictest.errors import ProfileError
from nictest.models.schema import validate

BUNDLED_DIR = os.path.dirname(os.path.abspath(__file__))
SUFFIX = ".json"


@dataclass(frozen=True)
class Profile:
    path: str
    data: Dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.data['ids']['vendor']}:{self.data['ids']['device']}"

    @property
    def model(self) -> str:
        return self.data["model"]

    @property
    def features(self) -> tuple:
        return tuple(self.data["features"])

    def claims(self, feature: str) -> bool:
        return feature in self.data["features"]


def load_profile(path: str) -> Profile:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise ProfileError(f"{path}: cannot read the profile: {err.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProfileError(f"{path}: line {err.lineno} column {err.colno}: not valid JSON ({err.msg})") from None
    return Profile(path, validate(data, path))


def load_dir(directory: str) -> Dict[str, Profile]:
    """{vendor:device: Profile} of every *.json in `directory` (not recursive)."""
    if not os.path.isdir(directory):
        raise ProfileError(f"{directory}: no such profile directory (pass a directory of *.json profiles)")
    found: Dict[str, Profile] = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(SUFFIX):
            continue
        profile = load_profile(os.path.join(directory, name))
        if profile.key in found:
            raise ProfileError(f"{profile.path}: ids: {profile.key} is also the device of "
                               f"{found[profile.key].path}; keep one profile per model in a directory")
        found[profile.key] = profile
    return found


def profile_dirs(extra: Iterable[str] = ()) -> List[str]:
    """The search path: `extra` first (a vendor's own profiles), the bundled directory last."""
    return [os.path.abspath(d) for d in extra] + [BUNDLED_DIR]


def find_profile(vendor: str, device: str, extra_dirs: Iterable[str] = ()) -> Optional[Profile]:
    """The first profile for vendor:device along profile_dirs(extra_dirs), or None."""
    key = f"{vendor.lower()}:{device.lower()}"
    for directory in profile_dirs(extra_dirs):
        profile = load_dir(directory).get(key)
        if profile is not None:
            return profile
    return None


def bundled_profiles() -> Dict[str, Profile]:
    return load_dir(BUNDLED_DIR)
