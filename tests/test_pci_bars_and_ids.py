from __future__ import annotations

from fakesysfs import build_lab_host
from nictest.pci import read_device
from nictest.pci.bars import parse_resource
from nictest.pci.pciids import lookup_names

RESOURCE = (
    "0x00000000feb80000 0x00000000feb9ffff 0x0000000000040200\n"
    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
    "0x000000000000c000 0x000000000000c01f 0x0000000000040101\n"
    "0x0000004000100000 0x000000400017ffff 0x0000000000140204\n"
    + "0x0000000000000000 0x0000000000000000 0x0000000000000000\n" * 2
    + "0x00000000feb40000 0x00000000feb7ffff 0x0000000000046200\n"
    + "0x00000000fe000000 0x00000000fe0fffff 0x0000000000000200\n"  # bridge window: ignored
    + "0x0000000000000000 0x0000000000000000 0x0000000000000000\n" * 5
)


def test_parse_resource_keeps_non_empty_bars_and_rom():
    bars = parse_resource(RESOURCE)
    assert [b.index for b in bars] == [0, 2, 3, 6]
    bar0, io, bar64, rom = (b.to_dict() for b in bars)
    assert bar0 == {"index": 0, "start": 0xFEB80000, "end": 0xFEB9FFFF, "size": 0x20000, "flags": 0x40200,
                    "kind": "mem", "prefetchable": False, "is_64bit": False, "rom": False}
    assert (io["kind"], io["size"]) == ("io", 32)
    assert bar64["is_64bit"] and bar64["size"] == 0x80000
    assert rom["rom"] and rom["prefetchable"] and rom["size"] == 0x40000


def test_parse_resource_tolerates_garbage():
    assert parse_resource("") == []
    assert parse_resource("junk\n0x10 zz 0x0\n") == []


def test_bars_read_from_device(tmp_path):
    build_lab_host(tmp_path)
    nic = read_device(tmp_path, "00:03.0")
    assert [b.index for b in nic.bars] == [0, 1, 2, 3, 6]
    assert nic.bars[0].start == 0xFEB80000 and nic.bars[0].size == 0x20000
    assert read_device(tmp_path, "00:04.0").bars == ()


def test_pci_ids_reads_only_wanted_vendors_and_stops_at_classes(tmp_path):
    (tmp_path / "usr/share/misc").mkdir(parents=True)
    (tmp_path / "usr/share/misc/pci.ids").write_text(
        "0001  SafeNet\n\t10d3  not Intel's\n"
        "8086  Intel Corporation\n\t10D3  82574L\n\t\t10d3 10d3  subsystem, not a device\n"
        "C 02  Network controller\n8086  classes section, never read\n"
    )
    names = lookup_names(tmp_path, [("8086", "10d3"), ("8086", "ffff"), ("dead", "beef")])
    assert names == {("8086", None): "Intel Corporation", ("8086", "10d3"): "82574L"}
    assert lookup_names(tmp_path / "nowhere", [("8086", "10d3")]) == {}


def test_pci_ids_vendor_on_the_first_line_and_device_lines_after_comments(tmp_path):
    (tmp_path / "usr/share/misc").mkdir(parents=True)
    (tmp_path / "usr/share/misc/pci.ids").write_text(
        "8086  Intel Corporation\n# a comment inside the block\n\t10d3  82574L\n\n\t100e  82540EM\n"
        "8087  Intel (Wireless)\n\t10d3  not the 82574L\n")
    names = lookup_names(tmp_path, [("8086", "10d3"), ("8086", "100e"), ("8087", "0001")])
    assert names == {("8086", None): "Intel Corporation", ("8086", "10d3"): "82574L",
                     ("8086", "100e"): "82540EM", ("8087", None): "Intel (Wireless)"}


def test_module_for_takes_the_first_matching_alias_of_the_vendor_or_a_wildcard():
    from nictest.pci.modalias import PciAliases, module_for
    aliases = PciAliases(
        "alias usb:v8086p*d* not_pci\n"
        "alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci_legacy\n"
        "alias pci:v*d*sv*sd*bc0Csc03i30* xhci_pci\n"
        "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n"
        "alias pci:v00008086d000010D3sv*sd*bc*sc*i* second_e1000e\n"
        "alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\n")
    intel_nic = "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
    assert module_for(intel_nic, aliases) == "e1000e"
    assert module_for(intel_nic.lower(), aliases) == "e1000e"
    assert module_for("pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30", aliases) == "xhci_pci"
    assert module_for("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", aliases) == "virtio_pci_legacy"
    assert module_for("pci:v00001234d00005678sv00000000sd00000000bc02sc00i00", aliases) is None
    assert module_for(None, aliases) is None and module_for("usb:v8086p0001", aliases) is None
