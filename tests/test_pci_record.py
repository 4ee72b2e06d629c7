from __future__ import annotations

import os

import pytest

from fakesysfs import build_lab_host
from nictest.pci import all_devices, discover, iommu_enabled
from nictest.pci.record import main, record


@pytest.fixture
def source(tmp_path):
    fake = build_lab_host(tmp_path / "host")
    fake.add_pci("0000:00:05.0", driver_override="vfio-pci", iommu_group=3)
    fake.add_netdev("bond0")
    fake.enslave("enp0s4", "bond0")
    fake.add_route6("enp0s3", "2001:db8::/64")
    return tmp_path / "host"


def test_recorded_tree_rediscovers_the_same_devices(source, tmp_path):
    record(tmp_path / "rec", source)
    for session in (None, "10.0.2.2"):
        original = [d.to_dict() for d in all_devices(source, session)]
        assert [d.to_dict() for d in all_devices(tmp_path / "rec", session)] == original
    assert [str(d.address) for d in discover(tmp_path / "rec")] == [
        "0000:00:02.0", "0000:00:03.0", "0000:00:04.0", "0000:00:05.0"]
    assert iommu_enabled(tmp_path / "rec")


def test_record_keeps_relative_links_and_skips_binary_files(source, tmp_path):
    out = tmp_path / "rec"
    record(out, source)
    link = out / "sys/bus/pci/devices/0000:00:03.0"
    assert os.readlink(link) == "../../../devices/pci0000:00/0000:00:03.0"
    assert os.readlink(link / "driver") == os.readlink(source / "sys/bus/pci/devices/0000:00:03.0/driver")
    assert not (link / "config").exists()  # binary config space is never read
    # the recording still works after being moved: nothing points at absolute paths
    os.rename(out, tmp_path / "moved")
    assert len(discover(tmp_path / "moved")) == 4


def test_record_refuses_non_empty_outdir(source, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/file").write_text("x")
    with pytest.raises(SystemExit, match="non-empty"):
        record(tmp_path / "busy", source)


def test_record_cli(source, tmp_path, capsys):
    assert main([str(tmp_path / "cli"), "--source", str(source)]) == 0
    assert "recorded" in capsys.readouterr().out
    assert len(discover(tmp_path / "cli")) == 4


def test_record_skips_unreadable_attributes(source, tmp_path, monkeypatch):
    # a live host answers EINVAL for `carrier` of a down link: skipped, not fatal
    import builtins
    import errno

    def einval_for_carrier(path, *args, **kwargs):
        if str(path).endswith("enp0s4/carrier"):
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return builtins.open(path, *args, **kwargs)

    (source / "sys/devices/pci0000:00/0000:00:04.0/net/enp0s4/carrier").write_text("0\n")
    monkeypatch.setattr("nictest.pci.record.open", einval_for_carrier, raising=False)
    recorder = record(tmp_path / "rec", source)
    assert any("enp0s4/carrier: Invalid argument" in line for line in recorder.skipped)
    assert not (tmp_path / "rec/sys/devices/pci0000:00/0000:00:04.0/net/enp0s4/carrier").exists()
    assert (tmp_path / "rec/sys/devices/pci0000:00/0000:00:04.0/net/enp0s4/mtu").exists()
