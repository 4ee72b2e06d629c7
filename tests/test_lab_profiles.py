"""Lab topologies as data: labs.toml and users' lab files -> QEMU arguments and guest addresses."""
from __future__ import annotations

from pathlib import Path

import pytest

from nictest import inventory
from nictest.errors import LabError
from nictest.lab import profiles

REPO = Path(__file__).resolve().parent.parent


def _args(profile) -> str:
    return " ".join(profile.qemu_args())


def test_lab1_and_lab2_keep_their_shape():
    for name, iommu in (("lab1", True), ("lab2", False)):
        p = profiles.profile(name)
        assert p.iommu is iommu and p.models == ("e1000e",)
        assert p.nic_addresses == ("0000:00:03.0", "0000:00:04.0")
        assert p.links == (("0000:00:03.0", "0000:00:04.0"),)
        assert "e1000e,netdev=p0,mac=52:54:00:00:0" in _args(p) and "addr=03.0" in _args(p)


def test_igb_lab_puts_each_pf_on_its_own_root_port():
    p = profiles.profile("lab-igb")
    assert p.nic_addresses == ("0000:01:00.0", "0000:02:00.0")
    args = _args(p)
    assert "pcie-root-port,id=rp0,bus=pcie.0,addr=10.0,chassis=1" in args
    assert "pcie-root-port,id=rp1,bus=pcie.0,addr=11.0,chassis=2" in args
    assert "igb,netdev=p0,mac=52:54:00:00:0a:10,bus=rp0" in args


def test_group_lab_puts_both_nics_behind_one_bridge():
    p = profiles.profile("lab-group")
    assert p.nic_addresses == ("0000:02:01.0", "0000:02:02.0")
    args = _args(p)
    assert "pcie-pci-bridge,id=br0,bus=rpbr" in args
    assert args.count("bus=br0") == 2


def test_cables_are_hubs():
    p = profiles.profile("lab-e1000")
    args = p.qemu_args()
    hubs = [a for a in args if a.startswith("hubport")]
    assert hubs == ["hubport,id=p0,hubid=0", "hubport,id=p1,hubid=0"]


def test_like_copies_a_lab_and_ports_are_unique():
    assert profiles.profile("lab3").iommu is True and profiles.profile("lab4").iommu is False
    ports = [p.ssh_port for p in profiles.PROFILES.values()]
    assert len(ports) == len(set(ports))


def test_a_users_lab_file(tmp_path):
    p = profiles.profile(str(REPO / "tests/labs/rtl8139.toml"))
    assert p.name == "lab-rtl8139" and p.models == ("rtl8139",)
    assert "rtl8139,netdev=p0" in _args(p)


@pytest.mark.parametrize("text, words", [
    ("iommu = true\nssh_port = 10050\n", "needs at least one [[nic]]"),
    ("iommu = true\nssh_port = 10050\nnic = [{ model = \"ne2k\", mac = \"52:54:00:00:00:01\" }]\n",
     "model 'ne2k'"),
    ("iommu = true\nssh_port = 10050\nnic = [{ model = \"e1000\", mac = \"52:54\" }]\n", "mac"),
    ("iommu = true\nssh_port = 10050\ncolour = 1\nnic = [{ model = \"e1000\", mac = \"52:54:00:00:00:01\" }]\n",
     "unknown key(s) colour"),
    ("iommu = true\nssh_port = 10050\nnic = [{ model = \"e1000\", mac = \"52:54:00:00:00:01\", slot = 2 }]\n",
     "slot 2 is taken"),
    ("iommu = true\nssh_port = 10050\nnic = [{ model = \"e1000\", mac = \"52:54:00:00:00:01\", place = \"pcie\" }]\n",
     "place 'pcie'"),
    ("ssh_port = 10050\nnic = [{ model = \"e1000\", mac = \"52:54:00:00:00:01\" }]\n", "iommu: required"),
    ("iommu = [", "not valid TOML"),
])
def test_broken_lab_files_name_the_mistake(tmp_path, text, words):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(LabError, match=None) as info:
        profiles.profile(str(path))
    assert words in str(info.value) and str(path) in str(info.value)


def test_missing_lab_file_names_the_hosts_toml_key(tmp_path):
    with pytest.raises(LabError, match="check the `lab` path in hosts.toml"):
        profiles.profile(str(tmp_path / "nope.toml"))


def test_inventory_resolves_a_lab_file_next_to_it(tmp_path):
    (tmp_path / "mine.toml").write_text((REPO / "tests/labs/rtl8139.toml").read_text())
    (tmp_path / "hosts.toml").write_text('[hosts.x]\nkind = "qemu"\nlab = "mine.toml"\n')
    spec = inventory.load(tmp_path / "hosts.toml").get("x")
    assert spec.lab == str(tmp_path / "mine.toml")


def test_bundled_inventory_agrees_with_the_lab_files():
    """hosts.toml's allow-list and cabling for each qemu host are what its lab really holds."""
    inv = inventory.load(REPO / "hosts.toml")
    checked = 0
    for name in inv.names():
        spec = inv.get(name)
        if spec.kind != "qemu":
            continue
        p = profiles.profile(spec.lab)
        assert spec.port == p.ssh_port, name
        assert set(spec.nics) == set(p.nic_addresses), name
        assert {frozenset(l) for l in spec.links} == {frozenset(l) for l in p.links}, name
        checked += 1
    assert checked == len(profiles.PROFILES) + 1  # + lab-rtl8139, from tests/labs/


def test_old_qemu_without_igb_names_the_package(monkeypatch):
    from nictest.lab import qemu
    monkeypatch.setattr(qemu, "version_and_devices",
                        lambda: ("QEMU emulator version 7.2.0", frozenset({"e1000", "e1000e", "pcie-root-port"})))
    qemu.check_devices(profiles.profile("lab1"))   # lab1 needs nothing new
    with pytest.raises(LabError) as info:
        qemu.check_devices(profiles.profile("lab-igb"))
    text = str(info.value)
    assert "igb" in text and "QEMU >= 8.0" in text and "bookworm-backports qemu-system-x86" in text
    with pytest.raises(LabError, match="pcie-pci-bridge"):
        qemu.check_devices(profiles.profile("lab-group"))


def test_this_machines_qemu_has_every_bundled_labs_devices():
    """CI installs QEMU from bookworm-backports: every bundled lab must be bootable here."""
    from nictest.lab import qemu
    for p in profiles.PROFILES.values():
        qemu.check_devices(p)


def test_only_root_port_nics_get_a_qemu_id_for_hotplug():
    """device_del/device_add name a NIC by its QEMU id: NICs on their own root port have one,
    and device_arg (what device_add is given) is exactly their -device argument."""
    for p in profiles.PROFILES.values():
        args = p.qemu_args()
        for nic in p.nics:
            if nic.place == "root-port":
                assert nic.qemu_id == f"nic-{nic.guest_address[5:7]}" and nic.root_port
                assert nic.device_arg(p.netdev_of(nic)) in args
            else:
                assert nic.qemu_id is None
        assert not any(",id=nic-" in a for a in args) or any(n.place == "root-port" for n in p.nics)
    igb = profiles.profile("lab-igb")
    assert [n.qemu_id for n in igb.nics] == ["nic-01", "nic-02"]
    assert igb.nics[1].device_arg("p1") == "igb,netdev=p1,mac=52:54:00:00:0a:11,bus=rp1,id=nic-02"
