"""Build the C poll-mode driver on the host and load it, cached by source hash.

The module `_nictest_pmd` is compiled by cffi (out-of-line API mode, recipe in
_build.py) into `<cache root>/<hash>/`, where the hash covers every C file, the
recipe, the Python ABI and the cffi version. A second build with the same
sources reuses the cached module. Runs inside the agent: Python >= 3.9,
standard library + cffi.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from typing import NamedTuple, Optional

from nictest.errors import PmdError, PrerequisiteMissing
from nictest.pmd import _build

CACHE_ENV = "NICTEST_PMD_CACHE"
SYSTEM_CACHE = "/var/cache/nictest/pmd"


class BuildResult(NamedTuple):
    hash: str
    path: str       # the compiled extension module
    seconds: float  # time spent in this call (compile or cache lookup)
    cached: bool


def default_cache_root() -> str:
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    if os.geteuid() == 0:
        return SYSTEM_CACHE
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nictest", "pmd")


def _ext_suffix() -> str:
    return sysconfig.get_config_var("EXT_SUFFIX") or ".so"


def source_hash() -> str:
    """sha256 (first 16 hex digits) of the sources, the ABI and the cffi version."""
    h = hashlib.sha256()
    try:
        import cffi
        cffi_version = cffi.__version__
    except ImportError:
        cffi_version = "none"
    h.update(f"{sys.implementation.cache_tag} {_ext_suffix()} cffi {cffi_version}\n".encode())
    for path in _build.source_files():
        rel = os.path.relpath(path, os.path.dirname(_build.CSRC))
        with open(path, "rb") as f:
            data = f.read()
        h.update(f"{rel} {len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()[:16]


def check_prerequisites() -> None:
    """Raise PrerequisiteMissing naming the Debian package for what is missing."""
    missing = []
    if importlib.util.find_spec("cffi") is None:
        missing.append("python module cffi: apt-get install python3-cffi")
    cc = (sysconfig.get_config_var("CC") or "gcc").split()[0]
    if shutil.which(cc) is None and shutil.which("gcc") is None:
        missing.append(f"C compiler {cc}: apt-get install gcc libc6-dev")
    include = sysconfig.get_paths().get("include") or ""
    if not os.path.exists(os.path.join(include, "Python.h")):
        missing.append(f"Python headers ({include}/Python.h): apt-get install python3-dev")
    if sys.version_info >= (3, 12):
        if importlib.util.find_spec("setuptools") is None:
            missing.append("python module setuptools (cffi builds with it): apt-get install python3-setuptools")
    elif importlib.util.find_spec("distutils") is None and importlib.util.find_spec("setuptools") is None:
        missing.append("python module distutils: apt-get install python3-distutils")
    if missing:
        raise PrerequisiteMissing("cannot build the nictest PMD; install: " + "; ".join(missing))


def build(cache_root: Optional[str] = None) -> BuildResult:
    """Compile the module unless the cache already has it for these sources."""
    start = time.monotonic()
    root = cache_root or default_cache_root()
    digest = source_hash()
    target_dir = os.path.join(root, digest)
    target = os.path.join(target_dir, _build.MODULE_NAME + _ext_suffix())
    if os.path.exists(target):
        return BuildResult(digest, target, time.monotonic() - start, True)
    check_prerequisites()
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one compiler per cache, other builders wait and reuse
        if os.path.exists(target):
            return BuildResult(digest, target, time.monotonic() - start, True)
        tmp = tempfile.mkdtemp(prefix=f".build-{digest}-", dir=root)
        try:
            built = _compile(tmp)
            os.makedirs(target_dir, exist_ok=True)
            os.replace(built, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return BuildResult(digest, target, time.monotonic() - start, False)


def _compile(tmpdir: str) -> str:
    from cffi import VerificationError  # after check_prerequisites

    cwd = os.getcwd()
    try:
        return _build.make_ffibuilder().compile(tmpdir=tmpdir, verbose=False)
    except (VerificationError, OSError) as exc:
        raise PmdError("build", 5, f"compiling the nictest PMD failed in {tmpdir}: {exc}") from exc
    finally:
        os.chdir(cwd)  # distutils may leave the process elsewhere


_loaded: dict = {}


def load(cache_root: Optional[str] = None):
    """The compiled module (with .ffi and .lib), building it first if needed."""
    result = build(cache_root)
    module = _loaded.get(result.path)
    if module is None:
        spec = importlib.util.spec_from_file_location(_build.MODULE_NAME, result.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[result.path] = module
    return module
