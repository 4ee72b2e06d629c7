"""The PMD's cffi build: layouts through ffi.sizeof, the hash-keyed cache, prerequisites.

Builds the real C module into a temporary cache (a few seconds); no hardware
is touched: the C calls used here fail argument checks before any device access.
"""
from __future__ import annotations

import importlib
import shutil

import pytest

from nictest.errors import PmdError, PrerequisiteMissing
from nictest.pmd import _build

pmd_build = importlib.import_module("nictest.pmd.build")  # the module; nictest.pmd.build is also a function


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("pmdcache"))


@pytest.fixture(scope="module")
def built(cache_root):
    try:
        result = pmd_build.build(cache_root)
    except PrerequisiteMissing as exc:
        pytest.skip(str(exc))
    return result


@pytest.fixture(scope="module")
def mod(built, cache_root):
    return pmd_build.load(cache_root)


def test_descriptor_layouts(mod):
    ffi = mod.ffi
    assert ffi.sizeof("struct pmd_e1000_rx_desc") == 16
    assert ffi.sizeof("struct pmd_e1000_tx_desc") == 16
    assert ffi.offsetof("struct pmd_e1000_rx_desc", "length") == 8
    assert ffi.offsetof("struct pmd_e1000_rx_desc", "status") == 12
    assert ffi.offsetof("struct pmd_e1000_rx_desc", "errors") == 13
    assert ffi.offsetof("struct pmd_e1000_tx_desc", "cmd") == 11
    assert ffi.offsetof("struct pmd_e1000_tx_desc", "status") == 12


def test_constants_from_the_header(mod):
    lib = mod.lib
    assert lib.PMD_BUF_SIZE == 2048
    assert lib.PMD_HUGEPAGE_SIZE == 2 << 20
    assert (lib.PMD_FRAME_MIN, lib.PMD_FRAME_MAX) == (60, 1514)
    assert lib.PMD_ETHERTYPE == 0x88B5


def test_second_build_reuses_the_cache(built, cache_root):
    assert not built.cached
    again = pmd_build.build(cache_root)
    assert again.cached and again.hash == built.hash and again.path == built.path
    assert built.path.startswith(f"{cache_root}/{built.hash}/")


def test_hash_follows_the_sources(monkeypatch, tmp_path):
    before = pmd_build.source_hash()
    assert before == pmd_build.source_hash()
    extra = tmp_path / "extra.h"
    extra.write_text("/* changed */\n")
    files = _build.source_files() + [str(extra)]
    monkeypatch.setattr(_build, "source_files", lambda: files)
    changed = pmd_build.source_hash()
    extra.write_text("/* changed again */\n")
    assert len({before, changed, pmd_build.source_hash()}) == 3


def test_cdef_sees_no_preprocessor_lines():
    text = _build.cdef_text()
    assert "#include" not in text and "#define" not in text
    assert "struct pmd_port;" in text


def test_missing_compiler_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(_build, "source_files", lambda: [str(tmp_path / "x.c")])
    (tmp_path / "x.c").write_text("int x;\n")
    with pytest.raises(PrerequisiteMissing, match="apt-get install gcc"):
        pmd_build.build(str(tmp_path / "cache"))


def test_c_errors_become_pmd_errors(mod, cache_root, monkeypatch):
    from nictest.pmd import port as port_mod

    monkeypatch.setattr(port_mod, "_module", lambda: mod)
    # Ring sizes are checked before any device file is opened.
    with pytest.raises(PmdError) as info:
        port_mod.Port("0000:00:03.0", "vfio", rx_ring=100)
    err = info.value
    assert err.op == "open" and err.errno == 22
    assert "Invalid argument" in str(err) and "RX ring size 100" in str(err)
    # Frame sizes are checked before the AF_PACKET socket is created.
    with pytest.raises(PmdError, match="frame size 20") as info:
        port_mod.kernel_tx("lo", 1, size=20)
    assert info.value.op == "kernel_tx" and info.value.errno == 22
