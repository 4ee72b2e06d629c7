"""The isolation verdict must be able to fail: a changed canary or a missing/mismatched
fault fails it; only an intact canary plus a fault for this device and address passes."""
from nictest.isolation.verdict import parse_faults, short_bdf, verdict

DEV = "0000:00:03.0"
ADDR = 0x10100000
WRITE = ("DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x10100000 "
         "[fault reason 0x05] PTE Write access is not set")
READ = ("DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x10100000 "
        "[fault reason 0x06] PTE Read access is not set")
NOISE = ["DMAR: DRHD: handling fault status reg 2", "e1000e 0000:00:04.0 eth1: NIC Link is Up"]


def test_intact_canary_and_matching_fault_pass():
    v = verdict(0, NOISE + [WRITE], DEV, ADDR)
    assert v.passed and v.matching and v.matching[0].reason == 5
    assert bool(v)


def test_changed_canary_fails_even_with_the_fault():
    v = verdict(114, NOISE + [WRITE], DEV, ADDR)
    assert not v.passed
    assert "114 canary byte(s) changed" in v.explain()


def test_missing_fault_fails_even_with_an_intact_canary():
    v = verdict(0, NOISE, DEV, ADDR)
    assert not v.passed
    assert "no IOMMU" in v.explain()


def test_fault_for_another_device_fails():
    other = WRITE.replace("[00:03.0]", "[00:04.0]")
    assert not verdict(0, [other], DEV, ADDR).passed


def test_fault_at_another_address_fails():
    assert not verdict(0, [WRITE], DEV, ADDR + 0x200000).passed


def test_fault_in_the_same_page_passes():
    assert verdict(0, [WRITE], DEV, ADDR + 0x40).passed


def test_kind_is_checked_when_asked():
    assert verdict(None, [READ], DEV, ADDR, kind="Read").passed
    assert not verdict(None, [WRITE], DEV, ADDR, kind="Read").passed


def test_both_failures_are_reported():
    v = verdict(3, [], DEV, ADDR)
    assert not v.passed and len(v.reasons) == 2


def test_parse_old_format_and_amd():
    old = "DMAR: [DMA Write] Request device [00:03.0] PASID ffffffff fault addr 10100000 [fault reason 05]"
    amd = "AMD-Vi: Event logged [IO_PAGE_FAULT device=00:03.0 domain=0x0001 address=0x10100000 flags=0x0020]"
    faults = parse_faults([old, amd])
    assert [(f.device, f.address) for f in faults] == [("00:03.0", ADDR), ("00:03.0", ADDR)]


def test_short_bdf():
    assert short_bdf("0000:00:03.0") == "00:03.0"
    assert short_bdf("00:03.0") == "00:03.0"
