"""The PMD's cffi build: layouts through ffi.sizeof, the hash-keyed cache, prerequisites.

Builds the real C module into a temporary cache (a few seconds); no hardware
is touched: the C calls used here fail argument checks before any device access.
"""
from __future__ import annotations

import errno
import importlib
import os
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


def test_the_header_declares_no_descriptor_layout():
    """Descriptor formats are the drivers' business (csrc/drivers/), not the public header's."""
    text = _build.cdef_text()
    assert "_desc {" not in text and "struct pmd_e1000" not in text


def test_every_driver_file_is_compiled():
    sources = {os.path.relpath(p, _build.CSRC) for p in _build.c_sources()}
    assert {"port.c", "device.c", "drivers/registry.c", "drivers/e1000.c", "drivers/e1000e.c"} <= sources


def test_id_table_maps_ids_to_drivers_and_model_facts(mod):
    from nictest.pmd import port as pmd_port

    ffi, lib = mod.ffi, mod.lib
    m = ffi.new("struct pmd_model_info *")
    table = []
    while lib.pmd_model_at(len(table), m) == 0:
        table.append(pmd_port._model_dict(ffi, m))
    by_id = {(t["vendor"], t["device"]): t for t in table}
    assert len(by_id) == len(table), "an ID is listed twice"
    e1000, e1000e = by_id[("8086", "100e")], by_id[("8086", "10d3")]
    assert (e1000["driver"], e1000["name"], e1000["desc_format"]) == ("e1000", "82540EM", "legacy")
    assert (e1000e["driver"], e1000e["name"], e1000e["msix_vectors"]) == ("e1000e", "82574L", 5)
    assert "pcie" in e1000e["flags"] and "pcie" not in e1000["flags"]
    for t in table:
        assert t["rx_desc_size"] == t["tx_desc_size"] == 16 and "device" in t["resets"], t
    assert lib.pmd_model_lookup(0x10EC, 0x8139, m) == -errno.ENOENT
    text = ffi.string(lib.pmd_last_error()).decode()
    assert text.startswith("no nictest PMD driver for 10ec:8139; drivers: e1000 (8086:100e 82540EM +")
    assert "e1000e (8086:10d3 82574L)" in text



def test_igb_is_in_the_id_table_with_advanced_descriptors(mod):
    """The 82576 (igb): one models.h line and its board (drivers/igb.c)."""
    from nictest.pmd import port as pmd_port

    ffi, lib = mod.ffi, mod.lib
    m = ffi.new("struct pmd_model_info *")
    assert lib.pmd_model_lookup(0x8086, 0x10C9, m) == 0, ffi.string(lib.pmd_last_error()).decode()
    igb = pmd_port._model_dict(ffi, m)
    assert (igb["driver"], igb["name"], igb["desc_format"]) == ("igb", "82576", "advanced")
    assert (igb["rx_desc_size"], igb["tx_desc_size"], igb["reg_bar"]) == (16, 16, 0)
    assert (igb["rx_queues"], igb["tx_queues"], igb["msix_vectors"]) == (16, 16, 10)
    assert "pcie" in igb["flags"] and "device" in igb["resets"]
    assert lib.pmd_model_lookup(0x10EC, 0x8139, m) == -errno.ENOENT
    assert "igb (8086:10c9 82576)" in ffi.string(lib.pmd_last_error()).decode()

def test_the_82576_vf_is_in_the_id_table_on_its_own_driver(mod):
    """The 82576's VF (igbvf): one models.h line, its board (drivers/igbvf.c), the PF's advanced
    descriptors; a VF has two queue pairs and three MSI-X vectors, no MSI."""
    from nictest.pmd import port as pmd_port

    ffi, lib = mod.ffi, mod.lib
    m = ffi.new("struct pmd_model_info *")
    assert lib.pmd_model_lookup(0x8086, 0x10CA, m) == 0, ffi.string(lib.pmd_last_error()).decode()
    vf = pmd_port._model_dict(ffi, m)
    assert (vf["driver"], vf["name"], vf["desc_format"]) == ("igbvf", "82576-VF", "advanced")
    assert (vf["rx_queues"], vf["tx_queues"], vf["msix_vectors"]) == (2, 2, 3)
    assert "msi" not in vf["flags"] and "msix" in vf["flags"] and "device" in vf["resets"]
    assert lib.pmd_model_lookup(0x10EC, 0x8139, m) == -errno.ENOENT
    assert "igbvf (8086:10ca 82576-VF)" in ffi.string(lib.pmd_last_error()).decode()


def test_constants_from_the_header(mod):
    lib = mod.lib
    assert lib.PMD_BUF_SIZE == 2048
    assert lib.PMD_HUGEPAGE_SIZE == 2 << 20
    assert (lib.PMD_FRAME_MIN, lib.PMD_FRAME_MAX) == (60, 1514)
    assert lib.PMD_ETHERTYPE == 0x88B5
    assert (lib.PMD_CHECK_PAYLOAD, lib.PMD_CHECK_SEQUENCE) == (0, 1)


def test_an_unknown_check_mode_is_refused_before_any_port_is_touched():
    from nictest.pmd import port as port_mod

    with pytest.raises(PmdError, match="check 'bytes': one of payload, sequence"):
        port_mod.txrx(None, None, 10, check="bytes")
    with pytest.raises(PmdError, match=r"threads 3: 1 \(one loop for both ports\) or 2 \(one per port\)"):
        port_mod.txrx(None, None, 10, threads=3)


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
    # A device that does not exist: the driverless open names what to check, nothing is touched.
    with pytest.raises(PmdError) as info:
        port_mod.Device("0000:00:99.0", "vfio")
    assert info.value.op == "device_open" and info.value.errno == 19 and "no iommu_group" in str(info.value)
    # A VF token is checked (a UUID, VFIO only) before any device file is opened.
    for token in ("not-a-uuid", "0123456789abcdef0123456789abcdef0123", "0123456-89ab-cdef-0123-456789abcdef0"):
        with pytest.raises(PmdError, match="must be a UUID, 8-4-4-4-12 hex digits") as info:
            port_mod.Device("0000:00:99.0", "vfio", vf_token=token)
        assert info.value.op == "device_open" and info.value.errno == 22
    with pytest.raises(PmdError, match="a VF token is VFIO's") as info:
        port_mod.Device("0000:00:99.0", "uio", vf_token="0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
    # A well-formed token passes the parse: the missing device is then the error.
    with pytest.raises(PmdError, match="no iommu_group") as info:
        port_mod.Device("0000:00:99.0", "vfio", vf_token="0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9")
    # Frame sizes are checked before the AF_PACKET socket is created.
    with pytest.raises(PmdError, match="frame size 20") as info:
        port_mod.kernel_tx("lo", 1, size=20)
    assert info.value.op == "kernel_tx" and info.value.errno == 22
