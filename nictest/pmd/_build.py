"""cffi out-of-line API-mode build recipe for the C poll-mode driver.

`make_ffibuilder()` returns the FFI builder: cdef = csrc/pmd.h without its
preprocessor lines (the one header cffi sees), set_source("_nictest_pmd", ...)
compiling every C file under csrc/ (drivers/ too). nictest.pmd.build drives it into a cache
directory keyed by a hash of these sources. Standard library + cffi only.
"""
from __future__ import annotations

import os
from typing import List

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
MODULE_NAME = "_nictest_pmd"
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration"]


def c_sources() -> List[str]:
    """Every .c file under csrc/ (drivers/ included): a new driver needs no line here."""
    return [f for f in source_files() if f.endswith(".c")]


def source_files() -> List[str]:
    """Every file whose content changes the module: the C tree and this recipe."""
    files = []
    for root, dirs, names in os.walk(CSRC):
        dirs.sort()
        files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith((".c", ".h")))
    files.append(os.path.abspath(__file__))
    return files


def cdef_text() -> str:
    with open(os.path.join(CSRC, "pmd.h"), encoding="utf-8") as f:
        return "".join(line for line in f if not line.lstrip().startswith("#"))


def make_ffibuilder():
    from cffi import FFI

    ffibuilder = FFI()
    ffibuilder.cdef(cdef_text())
    ffibuilder.set_source(
        MODULE_NAME,
        '#include "pmd.h"\n',
        sources=c_sources(),
        include_dirs=[CSRC],
        extra_compile_args=CFLAGS,
    )
    return ffibuilder


if __name__ == "__main__":
    make_ffibuilder().compile(verbose=True)
