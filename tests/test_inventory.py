"""hosts.toml parsing: the shipped file, every refusal naming file and key, ssh:// arguments."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nictest import inventory
from nictest.errors import InventoryError

GOOD = """
[hosts.lab1]
kind = "qemu"
port = 10022
user = "root"
nics = ["0000:00:03.0", "00:04.0"]
links = [["0000:00:03.0", "0000:00:04.0"]]

[hosts.rack3]
kind = "ssh"
address = "rack3.example"
user = "qa"
identity = "keys/id_ed25519"
known_hosts = "/etc/nictest/known_hosts"
become = "sudo"
connect_timeout = 3
call_timeout = 120.5

[hosts.local]
kind = "local"
nics = []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_inventory_loads():
    inv = inventory.load(inventory.DEFAULT_PATH)
    assert {"lab1", "lab2", "local"} <= set(inv.names())
    lab1 = inv.get("lab1")
    assert (lab1.kind, lab1.lab, lab1.port, lab1.user) == ("qemu", "lab1", 10022, "root")
    assert lab1.links == (("0000:00:03.0", "0000:00:04.0"),)
    assert inv.get("lab2").port == 10023
    assert inv.get("local").nics == ()


def test_good_file(tmp_path):
    inv = inventory.load(write(tmp_path, GOOD))
    assert inv.names() == ["lab1", "rack3", "local"]
    lab1 = inv.get("lab1")
    assert lab1.address == "127.0.0.1" and lab1.lab == "lab1"  # qemu defaults
    assert lab1.nics == ("0000:00:03.0", "0000:00:04.0")  # normalised
    assert lab1.identity is None and lab1.known_hosts is None
    rack3 = inv.get("rack3")
    assert rack3.port is None and rack3.nics is None and rack3.links == ()
    assert rack3.identity == str(tmp_path / "keys/id_ed25519")  # relative to the file
    assert rack3.known_hosts == "/etc/nictest/known_hosts"
    assert rack3.become == "sudo"
    assert (rack3.connect_timeout, rack3.call_timeout) == (3.0, 120.5)
    assert inv.get("local").nics == () and not inv.get("local").may_bind("0000:00:03.0")
    assert rack3.may_bind("0000:00:03.0")


def test_env_var_overrides_default(tmp_path, monkeypatch):
    monkeypatch.setenv(inventory.ENV_VAR, str(write(tmp_path, GOOD)))
    assert "rack3" in inventory.load().names()


def test_unknown_host_lists_known(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(InventoryError) as info:
        inventory.load(path).get("lab9")
    message = str(info.value)
    assert str(path) in message and "'lab9'" in message
    assert "lab1, rack3, local" in message


def test_missing_file(tmp_path):
    with pytest.raises(InventoryError, match="does not exist.*NICTEST_INVENTORY"):
        inventory.load(tmp_path / "nope.toml")


def test_not_toml(tmp_path):
    with pytest.raises(InventoryError, match="not valid TOML"):
        inventory.load(write(tmp_path, "[hosts.x\n"))


@pytest.mark.parametrize(
    "body, key, expected",
    [
        ('kind = "ssh"\naddress = "h"\nprot = 22', "hosts.h.prot", "no such key"),
        ('kind = "local"\naddress = "h"', "hosts.h.address", "no such key for kind 'local'"),
        ('address = "h"', "hosts.h.kind", "required"),
        ('kind = "vm"', "hosts.h.kind", "local|ssh|qemu"),
        ('kind = "ssh"', "hosts.h.address", "required"),
        ('kind = "ssh"\naddress = "h"\nport = "22"', "hosts.h.port", "integer port"),
        ('kind = "ssh"\naddress = "h"\nport = 70000', "hosts.h.port", "integer port"),
        ('kind = "ssh"\naddress = "h"\nport = true', "hosts.h.port", "integer port"),
        ('kind = "ssh"\naddress = ""', "hosts.h.address", "host name"),
        ('kind = "ssh"\naddress = "h"\nuser = 0', "hosts.h.user", "user name"),
        ('kind = "ssh"\naddress = "h"\nbecome = "doas"', "hosts.h.become", "sudo"),
        ('kind = "ssh"\naddress = "h"\nconnect_timeout = 0', "hosts.h.connect_timeout", "positive"),
        ('kind = "ssh"\naddress = "h"\ncall_timeout = "1m"', "hosts.h.call_timeout", "positive"),
        ('kind = "ssh"\naddress = "h"\nidentity = 1', "hosts.h.identity", "file path"),
        ('kind = "local"\nnics = "0000:00:03.0"', "hosts.h.nics", "list of PCI"),
        ('kind = "local"\nnics = ["0000:00:03.9"]', "hosts.h.nics[0]", "PCI address"),
        ('kind = "local"\nnics = ["00:03.0", "zz:00.0"]', "hosts.h.nics[1]", "PCI address"),
        ('kind = "local"\nnics = [3]', "hosts.h.nics[0]", "PCI address"),
        ('kind = "local"\nnics = ["00:03.0", "0000:00:03.0"]', "hosts.h.nics", "at most once"),
        ('kind = "local"\nnics = ["00:03.0"]\nlinks = [["00:03.0", "00:04.0"]]', "hosts.h.links[0]", "0000:00:04.0 is not"),
        ('kind = "local"\nlinks = [["00:03.0"]]', "hosts.h.links[0]", "pairs"),
        ('kind = "local"\nlinks = [["00:03.0", "00:03.0"]]', "hosts.h.links[0]", "not cabled to itself"),
        ('kind = "local"\nlinks = [["00:03.0", "00:04.x"]]', "hosts.h.links[0][1]", "PCI address"),
        ('kind = "ssh"\naddress = "h"\nlab = "lab1"', "hosts.h.lab", "no such key"),
    ],
)
def test_malformed_names_file_and_key(tmp_path, body, key, expected):
    path = write(tmp_path, "[hosts.h]\n" + body + "\n")
    with pytest.raises(InventoryError) as info:
        inventory.load(path)
    message = str(info.value)
    assert str(path) in message
    assert f"{key}:" in message
    assert expected in message


def test_malformed_top_level(tmp_path):
    with pytest.raises(InventoryError, match="unknown top-level key.*host"):
        inventory.load(write(tmp_path, "[host.x]\nkind = 'local'\n"))
    with pytest.raises(InventoryError, match="hosts.x: expected a table"):
        inventory.load(write(tmp_path, "[hosts]\nx = 1\n"))


def test_links_without_allow_list_are_only_checked_as_addresses(tmp_path):
    inv = inventory.load(write(tmp_path, '[hosts.h]\nkind = "local"\nlinks = [["3b:00.0", "3b:00.1"]]\n'))
    assert inv.get("h").links == (("0000:3b:00.0", "0000:3b:00.1"),)


@pytest.mark.parametrize(
    "text, address, port, user",
    [
        ("ssh://host.example", "host.example", None, None),
        ("ssh://qa@10.0.0.5", "10.0.0.5", None, "qa"),
        ("ssh://qa@10.0.0.5:2222", "10.0.0.5", 2222, "qa"),
        ("ssh://[fe80::1]:2200/", "fe80::1", 2200, None),
    ],
)
def test_ssh_url(tmp_path, text, address, port, user):
    inv = inventory.load(write(tmp_path, GOOD))
    spec = inventory.parse_host_arg(text, inv)
    assert (spec.kind, spec.address, spec.port, spec.user) == ("ssh", address, port, user)
    assert spec.name == text.rstrip("/")
    assert spec.nics is None  # ad hoc: no allow-list
    assert spec.connect_timeout == inventory.DEFAULT_CONNECT_TIMEOUT


@pytest.mark.parametrize("text", ["ssh://", "ssh://h:99999", "ssh://h:port", "ssh://h/path", "ssh://u:pw@h"])
def test_bad_ssh_url(tmp_path, text):
    with pytest.raises(InventoryError, match="ssh://"):
        inventory.parse_host_arg(text, inventory.load(write(tmp_path, GOOD)))


def test_host_arg_by_name(tmp_path):
    inv = inventory.load(write(tmp_path, GOOD))
    assert inventory.parse_host_arg("rack3", inv) is inv.get("rack3")
    with pytest.raises(InventoryError, match="known hosts: lab1, rack3, local"):
        inventory.parse_host_arg("rack4", inv)


def test_spec_is_frozen(tmp_path):
    spec = inventory.load(write(tmp_path, GOOD)).get("lab1")
    with pytest.raises(AttributeError):
        spec.port = 1


def test_kernel_rx_pps_is_a_positive_integer_and_a_lab_paces_by_default(tmp_path):
    from nictest.hosts.qemu import QemuLabHost
    path = tmp_path / "hosts.toml"
    path.write_text('[hosts.a]\nkind = "ssh"\naddress = "h"\nkernel_rx_pps = 50000\n'
                    '[hosts.b]\nkind = "qemu"\nlab = "lab1"\n')
    inv = inventory.load(path)
    assert inv.get("a").kernel_rx_pps == 50000 and inv.get("b").kernel_rx_pps is None
    assert QemuLabHost(inv.get("b")).kernel_rx_pps == 20000  # the bundled lab's pace
    path.write_text('[hosts.a]\nkind = "ssh"\naddress = "h"\nkernel_rx_pps = 0\n')
    with pytest.raises(InventoryError, match="kernel_rx_pps.*positive integer"):
        inventory.load(path)
