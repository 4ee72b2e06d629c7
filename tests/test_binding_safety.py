"""Refusals of nictest.binding.safety on synthetic sysfs trees: nothing is ever written."""
from __future__ import annotations

import pytest

from fakesysfs import FakeSysfs, build_lab_host
from nictest.binding import drivers, safety
from nictest.errors import PrerequisiteMissing, RefusedError

NIC, PEER, MGMT = "0000:00:03.0", "0000:00:04.0", "0000:00:02.0"
RELEASE = "6.1.0-test-amd64"


def host(tmp_path, iommu=True, peer_group=4, peer_driver="e1000e", loaded=("vfio-pci", "uio_pci_generic")):
    """Mgmt NIC on virtio carrying the default route; NIC and PEER on e1000e, each alone in a group by default."""
    fake = FakeSysfs(tmp_path)
    group = (lambda n: n) if iommu else (lambda n: None)
    fake.add_pci("0000:00:00.0", device="29c0", class_code="0x060000", iommu_group=group(0))
    fake.add_pci(MGMT, vendor="1af4", device="1041", driver="virtio-pci", iommu_group=group(1))
    fake.add_pci(NIC, driver="e1000e", module="e1000e", iommu_group=group(3))
    fake.add_pci(PEER, driver=peer_driver, module=peer_driver, iommu_group=group(peer_group))
    if iommu:
        fake.enable_iommu_class()
        for number in (0, 1, 3, peer_group):
            (tmp_path / f"sys/kernel/iommu_groups/{number}/type").write_text("DMA\n")
    for name in loaded:
        (tmp_path / "sys/bus/pci/drivers" / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text(RELEASE + "\n")
    fake.add_loopback()
    fake.add_netdev("enp0s2", pci=MGMT, virtio=0, mac="52:54:00:00:00:02")
    fake.add_netdev("enp0s3", pci=NIC, mac="52:54:00:00:00:03", operstate="down", carrier=None)
    fake.add_netdev("enp0s4", pci=PEER, mac="52:54:00:00:00:04", operstate="down", carrier=None)
    fake.add_route("enp0s2", "0.0.0.0/0", gateway="10.0.2.2", metric=100)
    fake.add_route("enp0s2", "10.0.2.0/24", metric=100)
    return fake


def check(root, address=NIC, driver="vfio-pci", **kw):
    kw.setdefault("session_ip", "10.0.2.2")
    return safety.check_bind(root, address, driver, **kw)


def modules_file(root, name, lines):
    path = root / "lib/modules" / RELEASE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def test_free_nic_in_its_own_group_is_accepted(tmp_path):
    host(tmp_path)
    plan = check(tmp_path)
    assert plan.target.name == "vfio-pci" and plan.module == "loaded" and not plan.noiommu
    assert str(plan.device.address) == NIC


@pytest.mark.parametrize("spelling", ["vfio_pci", "vfio-pci", "VFIO-PCI"])
def test_vfio_spellings_normalise_to_the_sysfs_name(tmp_path, spelling):
    host(tmp_path)
    assert check(tmp_path, driver=spelling).target.name == "vfio-pci"


def test_unknown_target_driver_refused(tmp_path):
    with pytest.raises(RefusedError, match="vfio-pci or uio_pci_generic"):
        host(tmp_path)
        check(tmp_path, driver="ixgbe")


def test_group_with_sibling_on_kernel_driver_is_not_viable(tmp_path):
    host(tmp_path, peer_group=3)
    with pytest.raises(RefusedError) as refused:
        check(tmp_path)
    assert "IOMMU group 3" in str(refused.value) and "0000:00:04.0 on e1000e" in str(refused.value)


def test_lab_shaped_tree_shared_group_refused(tmp_path):
    build_lab_host(tmp_path)  # NIC and PEER share group 3, PEER on e1000e
    (tmp_path / "sys/bus/pci/drivers/vfio-pci").mkdir()
    with pytest.raises(RefusedError, match="0000:00:04.0 on e1000e"):
        check(tmp_path)


def test_sibling_on_vfio_pci_is_viable(tmp_path):
    host(tmp_path, peer_group=3, peer_driver="vfio-pci")
    assert check(tmp_path).target.name == "vfio-pci"


def test_sibling_without_driver_is_viable(tmp_path):
    fake = host(tmp_path)
    fake.add_pci("0000:00:05.0", class_code="0x020000", iommu_group=3)
    assert check(tmp_path)


@pytest.mark.parametrize("bridge_driver", [None, "pcieport"])
def test_bridge_in_group_without_a_dma_driver_does_not_count(tmp_path, bridge_driver):
    fake = host(tmp_path)
    fake.add_pci("0000:00:1c.0", class_code="0x060400", driver=bridge_driver, iommu_group=3)
    assert check(tmp_path)


def test_bridge_on_a_driver_that_keeps_dma_blocks_the_group(tmp_path):
    # Since Linux 5.19 the IOMMU core lets VFIO claim a group only when every bound driver in it
    # sets driver_managed_dma (vfio-pci, pci-stub, pcieport); shpchp on a bridge does not.
    fake = host(tmp_path)
    fake.add_pci("0000:00:1c.0", class_code="0x060400", driver="shpchp", iommu_group=3)
    with pytest.raises(RefusedError, match="0000:00:1c.0 on shpchp.*bridge"):
        check(tmp_path)


def test_built_in_module_accepted(tmp_path):
    host(tmp_path, loaded=())
    modules_file(tmp_path, "modules.builtin", ["kernel/drivers/vfio/pci/vfio-pci.ko", "kernel/drivers/vfio/vfio.ko"])
    plan = check(tmp_path, driver="vfio_pci")
    assert plan.module == "builtin" and not plan.needs_modprobe


def test_loadable_module_found_in_modules_dep(tmp_path):
    host(tmp_path, loaded=())
    modules_file(tmp_path, "modules.dep", ["kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz"])
    plan = check(tmp_path)
    assert plan.module == "loadable" and plan.needs_modprobe


def test_module_found_by_modprobe_dry_run(tmp_path):
    host(tmp_path, loaded=())
    asked = []
    plan = check(tmp_path, dry_run=lambda module: asked.append(module) or True)
    assert plan.needs_modprobe and asked == ["vfio-pci"]


def test_module_missing_names_the_fix(tmp_path):
    host(tmp_path, loaded=())
    modules_file(tmp_path, "modules.dep", ["kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko: "])
    with pytest.raises(PrerequisiteMissing) as missing:
        check(tmp_path, dry_run=lambda module: False)
    assert "vfio-pci" in str(missing.value) and RELEASE in str(missing.value) and "install" in str(missing.value)


def test_vfio_on_host_without_iommu_or_noiommu_mode_refused(tmp_path):
    host(tmp_path, iommu=False)
    with pytest.raises(RefusedError) as refused:
        check(tmp_path)
    message = str(refused.value)
    assert "no IOMMU group" in message and "CONFIG_VFIO_NOIOMMU" in message and "nothing was touched" in message
    assert "uio_pci_generic" in message  # the way out


def test_vfio_noiommu_mode_off_refused_and_on_accepted(tmp_path):
    host(tmp_path, iommu=False)
    param = tmp_path / safety.NOIOMMU_PARAM
    param.parent.mkdir(parents=True)
    param.write_text("N\n")
    with pytest.raises(RefusedError, match="no-IOMMU mode is off"):
        check(tmp_path)
    param.write_text("Y\n")
    assert check(tmp_path).noiommu is True


def test_uio_without_allow_uio_refused_and_says_why(tmp_path):
    host(tmp_path, iommu=False)
    with pytest.raises(RefusedError) as refused:
        check(tmp_path, driver="uio_pci_generic")
    assert "unrestricted DMA" in str(refused.value) and "--allow-uio" in str(refused.value)
    assert check(tmp_path, driver="uio-pci-generic", allow_uio=True).target.name == "uio_pci_generic"


def test_uio_on_translating_iommu_refused_with_the_reason(tmp_path):
    host(tmp_path)
    with pytest.raises(RefusedError) as refused:
        check(tmp_path, driver="uio_pci_generic")
    assert "translates DMA" in str(refused.value) and "fault" in str(refused.value)
    assert check(tmp_path, driver="uio_pci_generic", allow_uio=True).iommu_translates


def test_uio_with_identity_domain_is_not_translating(tmp_path):
    host(tmp_path)
    (tmp_path / "sys/kernel/iommu_groups/3/type").write_text("identity\n")
    assert check(tmp_path, driver="uio_pci_generic", allow_uio=True).iommu_translates is False


def test_ipv6_only_route_makes_the_nic_active(tmp_path):
    fake = host(tmp_path)
    fake.link_local_only("enp0s3")  # link-local alone is not "in use"
    assert check(tmp_path)
    fake.add_route6("enp0s3", "2001:db8:1::/64")
    with pytest.raises(RefusedError) as refused:
        check(tmp_path)
    assert "IPv6 route 2001:db8:1::/64" in str(refused.value) and "--force" in str(refused.value)
    assert check(tmp_path, force=True)


def test_bond_member_refused_unless_forced(tmp_path):
    fake = host(tmp_path)
    fake.add_netdev("bond0", operstate="up")
    fake.enslave("enp0s3", "bond0")
    with pytest.raises(RefusedError, match="member of bond0"):
        check(tmp_path)
    assert check(tmp_path, force=True)


def test_session_interface_refused_even_with_force(tmp_path):
    fake = host(tmp_path)
    fake.add_route("enp0s3", "192.168.50.0/24")
    with pytest.raises(RefusedError) as refused:
        check(tmp_path, session_ip="192.168.50.7", force=True)
    assert "SSH session" in str(refused.value) and "not even with --force" in str(refused.value)


def test_management_nic_refused(tmp_path):
    host(tmp_path)
    with pytest.raises(RefusedError, match="SSH session"):
        check(tmp_path, address=MGMT, force=True)


def test_not_a_nic_refused(tmp_path):
    host(tmp_path)
    with pytest.raises(RefusedError, match="not a network controller"):
        check(tmp_path, address="0000:00:00.0")


def test_not_in_allow_list_refused(tmp_path):
    host(tmp_path)
    with pytest.raises(RefusedError, match=r"allow-list \(nics = \[0000:00:04.0\]\)"):
        check(tmp_path, allowed=["00:04.0"])
    with pytest.raises(RefusedError, match=r"nics = \[none\]"):
        check(tmp_path, allowed=[])
    assert check(tmp_path, allowed=["0000:00:03.0"])


def test_already_on_target_without_journal_refused(tmp_path):
    host(tmp_path, peer_driver="vfio-pci")
    with pytest.raises(RefusedError, match="already bound to vfio-pci"):
        check(tmp_path, address=PEER)


def test_module_key_treats_dash_and_underscore_alike():
    assert drivers.module_key("vfio-pci") == drivers.module_key("vfio_pci")


def test_user_driver_choice():
    from nictest.binding.drivers import user_driver
    assert user_driver(True, False) == "vfio-pci"
    assert user_driver(True, True) == "vfio-pci"
    assert user_driver(False, True) == "uio_pci_generic"
    with pytest.raises(RefusedError, match="pass --allow-uio"):
        user_driver(False, False)
