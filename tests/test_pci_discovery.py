from __future__ import annotations

import json

import pytest

from fakesysfs import FakeSysfs, build_lab_host
from nictest.errors import DeviceNotFound, PciAddressError
from nictest.pci import PciDevice, all_devices, discover, iommu_enabled, read_device

REQUIRED_KEYS = {
    "address", "vendor", "device", "vendor_name", "device_name", "class", "driver", "driver_override",
    "module", "netdevs", "netdev", "mac", "mtu", "operstate", "iommu_group", "iommu_group_members",
    "iommu_group_member_drivers", "numa_node", "bars", "rx_packets", "tx_packets", "active", "active_reason",
}


def by_address(devices):
    return {str(d.address): d for d in devices}


def test_lab_host_nics_sorted_and_non_nic_ignored(tmp_path):
    build_lab_host(tmp_path)
    nics = discover(tmp_path)
    assert [str(d.address) for d in nics] == ["0000:00:02.0", "0000:00:03.0", "0000:00:04.0"]
    assert "0000:00:00.0" in by_address(all_devices(tmp_path))


def test_device_attributes(tmp_path):
    build_lab_host(tmp_path)
    nic = by_address(discover(tmp_path))["0000:00:03.0"]
    assert (nic.vendor, nic.device, nic.class_code) == ("8086", "10d3", "0x020000")
    assert (nic.driver, nic.module, nic.driver_override) == ("e1000e", "e1000e", None)
    assert nic.netdevs == ("enp0s3",) and nic.netdev == "enp0s3"
    assert (nic.mac, nic.mtu, nic.operstate, nic.carrier) == ("52:54:00:00:00:03", 1500, "up", True)
    assert nic.numa_node == 0


def test_virtio_nic_finds_netdev_under_virtio_child(tmp_path):
    build_lab_host(tmp_path)
    mgmt = by_address(discover(tmp_path))["0000:00:02.0"]
    assert mgmt.netdev == "enp0s2"
    assert (mgmt.rx_packets, mgmt.tx_packets) == (120, 80)
    assert mgmt.module is None  # virtio-pci is built in: no module link


def test_default_route_makes_management_nic_active(tmp_path):
    build_lab_host(tmp_path)
    nics = by_address(discover(tmp_path))
    assert nics["0000:00:02.0"].active
    assert nics["0000:00:02.0"].active_reason == "enp0s2 carries IPv4 route 0.0.0.0/0 via 10.0.2.2"
    assert "enp0s2 carries IPv4 route 10.0.2.0/24" in nics["0000:00:02.0"].active_reasons


def test_link_local_only_nic_is_not_active(tmp_path):
    build_lab_host(tmp_path)
    nics = by_address(discover(tmp_path))
    assert not nics["0000:00:03.0"].active and nics["0000:00:03.0"].active_reason is None
    assert not nics["0000:00:04.0"].active


def test_down_link_has_no_carrier(tmp_path):
    build_lab_host(tmp_path)
    nic = by_address(discover(tmp_path))["0000:00:04.0"]
    assert nic.operstate == "down" and nic.carrier is None


def test_ipv6_only_route_makes_nic_active(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_route6("enp0s3", "2001:db8::/64")
    nic = by_address(discover(tmp_path))["0000:00:03.0"]
    assert nic.active and nic.active_reason == "enp0s3 carries IPv6 route 2001:db8::/64"


def test_ipv4_subnet_route_makes_nic_active(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_route("enp0s4", "192.168.1.0/24")
    assert by_address(discover(tmp_path))["0000:00:04.0"].active_reason == "enp0s4 carries IPv4 route 192.168.1.0/24"


def test_ssh_session_interface_by_longest_prefix(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_route("enp0s3", "10.0.2.0/28")  # more specific than enp0s2's 10.0.2.0/24
    nics = by_address(discover(tmp_path, session_ip="10.0.2.2"))
    assert nics["0000:00:03.0"].carries_session
    assert nics["0000:00:03.0"].active_reason == "enp0s3 carries the SSH session (route to 10.0.2.2)"
    assert not nics["0000:00:02.0"].carries_session
    assert nics["0000:00:02.0"].active  # still routed
    elsewhere = by_address(discover(tmp_path, session_ip="10.0.2.200"))
    assert elsewhere["0000:00:02.0"].carries_session
    assert elsewhere["0000:00:02.0"].active_reason == "enp0s2 carries the SSH session (route to 10.0.2.200)"


def test_loopback_session_flags_no_nic(tmp_path):
    build_lab_host(tmp_path)
    assert not any(d.carries_session for d in discover(tmp_path, session_ip="127.0.0.1"))


def test_bond_member_is_active(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_netdev("bond0")
    fake.enslave("enp0s3", "bond0")
    nic = by_address(discover(tmp_path))["0000:00:03.0"]
    assert nic.active and nic.active_reason == "enp0s3 is a member of bond0"


def test_session_over_bond_marks_member(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_netdev("bond0")
    fake.enslave("enp0s4", "bond0")
    fake.add_route("bond0", "172.16.0.0/12")
    nic = by_address(discover(tmp_path, session_ip="172.16.5.5"))["0000:00:04.0"]
    assert nic.carries_session and nic.active


def test_vlan_on_nic_carrying_a_route_makes_nic_active(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_netdev("enp0s3.100")
    fake.stack("enp0s3", "enp0s3.100")
    fake.add_route("enp0s3.100", "10.100.0.0/24")
    nic = by_address(discover(tmp_path))["0000:00:03.0"]
    assert nic.active_reason == "enp0s3 is the lower device of enp0s3.100: enp0s3.100 carries IPv4 route 10.100.0.0/24"


def test_idle_vlan_does_not_make_nic_active(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_netdev("enp0s3.100")
    fake.stack("enp0s3", "enp0s3.100")
    assert not by_address(discover(tmp_path))["0000:00:03.0"].active


def test_iommu_groups_with_siblings(tmp_path):
    build_lab_host(tmp_path)
    assert iommu_enabled(tmp_path)
    nics = by_address(discover(tmp_path))
    assert nics["0000:00:03.0"].iommu_group == 3
    assert nics["0000:00:03.0"].iommu_group_members == ("0000:00:04.0",)
    assert nics["0000:00:03.0"].iommu_group_member_drivers == {"0000:00:04.0": "e1000e"}
    assert nics["0000:00:02.0"].iommu_group == 1
    assert nics["0000:00:02.0"].iommu_group_members == ()


def test_group_member_without_driver(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_pci("0000:00:05.0", iommu_group=3)
    nic = by_address(discover(tmp_path))["0000:00:03.0"]
    assert nic.iommu_group_member_drivers == {"0000:00:04.0": "e1000e", "0000:00:05.0": None}


def test_no_iommu(tmp_path):
    build_lab_host(tmp_path, iommu=False)
    assert not iommu_enabled(tmp_path)
    for nic in discover(tmp_path):
        assert nic.iommu_group is None and nic.iommu_group_members == () and nic.iommu_group_member_drivers == {}


def test_iommu_class_alone_means_enabled(tmp_path):
    fake = FakeSysfs(tmp_path)
    assert not iommu_enabled(tmp_path)
    fake.enable_iommu_class("dmar0")
    assert iommu_enabled(tmp_path)


def test_nic_without_driver(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_pci("0000:00:05.0", iommu_group=5)
    nic = by_address(discover(tmp_path))["0000:00:05.0"]
    assert nic.driver is None and nic.netdevs == () and nic.netdev is None
    assert nic.mac is None and nic.rx_packets is None and nic.tx_packets is None
    assert not nic.active and nic.module is None


def test_unbound_nic_module_from_modules_alias(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_pci("0000:00:05.0", modalias="pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00")
    fake.write_modules_alias("6.1.0-test", [
        "alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000",
        "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e",
        "alias usb:v*p*d*dc*dsc*dp*ic*isc*ip*in* whatever",
    ])
    assert read_device(tmp_path, "00:05.0").module == "e1000e"


def test_modules_alias_is_indexed_once_until_depmod_rewrites_it(tmp_path):
    from nictest.pci.modalias import load_pci_aliases, module_for

    fake = build_lab_host(tmp_path)
    fake.write_modules_alias("6.1.0-test", ["alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e"])
    nic = "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00"
    first = load_pci_aliases(tmp_path)
    assert module_for(nic, first) == "e1000e"
    assert load_pci_aliases(tmp_path) is first  # a resident agent's second status reads nothing
    fake.write_modules_alias("6.1.0-test", ["alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e_new"])
    again = load_pci_aliases(tmp_path)
    assert again is not first and module_for(nic, again) == "e1000e_new"


def test_driver_override_and_numa_node(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_pci("0000:00:05.0", driver="vfio-pci", driver_override="vfio-pci", numa_node=1)
    nic = read_device(tmp_path, "0000:00:05.0")
    assert (nic.driver, nic.driver_override, nic.numa_node) == ("vfio-pci", "vfio-pci", 1)
    assert read_device(tmp_path, "0000:00:03.0").driver_override is None
    assert read_device(tmp_path, "0000:00:02.0").numa_node is None  # -1


def test_device_behind_bridge_and_other_domain(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.add_pci("0000:00:1c.0", vendor="8086", device="9d10", class_code="0x060400", driver="pcieport")
    fake.add_pci("0000:3b:00.0", driver="e1000e", parent="0000:00:1c.0")
    fake.add_pci("0001:00:00.0", vendor="8086", device="10fb", driver="ixgbe")
    fake.add_netdev("enp59s0", pci="0000:3b:00.0")
    nics = [str(d.address) for d in discover(tmp_path)]
    assert nics[-2:] == ["0000:3b:00.0", "0001:00:00.0"]
    assert read_device(tmp_path, "3b:00.0").netdev == "enp59s0"


def test_read_device_any_class_and_missing(tmp_path):
    build_lab_host(tmp_path)
    assert read_device(tmp_path, "0000:00:00.0").class_code == "0x060000"
    with pytest.raises(DeviceNotFound, match="0000:00:1f.0"):
        read_device(tmp_path, "00:1f.0")
    with pytest.raises(PciAddressError):
        read_device(tmp_path, "bogus")


def test_unparseable_device_names_are_skipped(tmp_path):
    build_lab_host(tmp_path)
    (tmp_path / "sys/bus/pci/devices/10000:00:00.0").mkdir()  # VMD domains exceed 16 bits
    assert len(discover(tmp_path)) == 3


def test_empty_root(tmp_path):
    assert discover(tmp_path) == [] and all_devices(tmp_path) == [] and not iommu_enabled(tmp_path)


def test_to_dict_is_json_safe_and_round_trips(tmp_path):
    build_lab_host(tmp_path)
    for nic in discover(tmp_path, session_ip="10.0.2.2"):
        data = nic.to_dict()
        assert REQUIRED_KEYS <= set(data)
        assert json.loads(json.dumps(data)) == data
        assert PciDevice.from_dict(json.loads(json.dumps(data))) == nic


def test_pci_ids_names(tmp_path):
    fake = build_lab_host(tmp_path)
    fake.write_pci_ids(
        "# comment\n"
        "1af4  Red Hat, Inc.\n"
        "\t1041  Virtio 1.0 network device\n"
        "\t\t1af4 1100  QEMU Virtual Machine\n"
        "8086  Intel Corporation\n"
        "\t10d3  82574L Gigabit Network Connection\n"
        "\t\t8086 0000  Gigabit CT Desktop Adapter\n"
        "\t29c0  82G33/G31/P35/P31 Express DRAM Controller\n"
        "C 02  Network controller\n"
        "\t00  Ethernet controller\n",
        where="usr/share/hwdata/pci.ids",
    )
    nics = by_address(all_devices(tmp_path))
    assert nics["0000:00:03.0"].vendor_name == "Intel Corporation"
    assert nics["0000:00:03.0"].device_name == "82574L Gigabit Network Connection"
    assert nics["0000:00:02.0"].device_name == "Virtio 1.0 network device"
    assert nics["0000:00:00.0"].device_name == "82G33/G31/P35/P31 Express DRAM Controller"


def test_no_pci_ids_means_no_names(tmp_path):
    build_lab_host(tmp_path)
    assert all(d.vendor_name is None and d.device_name is None for d in discover(tmp_path))


def test_discover_live_root_smoke():
    # Read-only against this machine: only checks shapes, never machine-specific facts.
    for nic in discover("/"):
        assert nic.class_code.startswith("0x02")
        json.dumps(nic.to_dict())


def test_iommu_address_bits_is_the_narrowest_vtd_units_mgaw(tmp_path):
    from nictest.pci.discovery import iommu_address_bits
    fake = FakeSysfs(tmp_path)
    assert iommu_address_bits(tmp_path) is None  # no IOMMU
    fake.enable_iommu_class("dmar0")
    assert iommu_address_bits(tmp_path) is None  # a unit that publishes no width (e.g. AMD's)
    # QEMU 10's intel-iommu as the lab guest reads it: MGAW field 0x2f -> 48 bits.
    (tmp_path / "sys/devices/virtual/iommu/dmar0/intel-iommu").mkdir()
    (tmp_path / "sys/devices/virtual/iommu/dmar0/intel-iommu/cap").write_text("d2008c222f0606\n")
    assert iommu_address_bits(tmp_path) == 48
    fake.enable_iommu_class("dmar1")
    (tmp_path / "sys/devices/virtual/iommu/dmar1/intel-iommu").mkdir()
    (tmp_path / "sys/devices/virtual/iommu/dmar1/intel-iommu/cap").write_text("d2008c22260206\n")  # MGAW 0x26
    assert iommu_address_bits(tmp_path) == 39
