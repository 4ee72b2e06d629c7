"""The CLI's bad-input paths: one clear line, non-zero exit, nothing hangs."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

HANG_GUARD = 15  # the bound for each of these to answer


def nictest(*argv, timeout=HANG_GUARD):
    return subprocess.run([sys.executable, "-m", "nictest.cli", *argv],
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert result.stdout == ""


def test_unknown_host_names_the_known_ones():
    assert_one_line_error(nictest("status", "--host", "nosuch"), "nosuch", "lab1", "lab2")


def test_broken_inventory_names_file_and_key(tmp_path):
    bad = tmp_path / "hosts.toml"
    bad.write_text('[hosts.rack1]\nkind = "ssh"\naddress = "10.9.9.9"\nport = "twenty-two"\n')
    assert_one_line_error(nictest("--inventory", str(bad), "status", "--host", "rack1"),
                          str(bad), "hosts.rack1.port")


@pytest.mark.parametrize("command", [("status", "--host", "rack1"), ("bind", "--host", "rack1", "0000:00:03.0", "vfio-pci"),
                                     ("restore", "--host", "rack1", "--all")])
def test_inventory_after_the_command_is_the_one_used(tmp_path, command):
    bad = tmp_path / "hosts.toml"
    bad.write_text('[hosts.rack1]\nkind = "ssh"\naddress = "10.9.9.9"\nport = "twenty-two"\n')
    # The file given after the command wins over the one before it (and the bundled one).
    assert_one_line_error(nictest("--inventory", str(tmp_path / "other.toml"), *command, "--inventory", str(bad)),
                          str(bad), "hosts.rack1.port")


def test_inventory_that_is_not_toml(tmp_path):
    bad = tmp_path / "hosts.toml"
    bad.write_text("[hosts.rack1\n")
    assert_one_line_error(nictest("--inventory", str(bad), "status", "--host", "rack1"), str(bad))


def test_unreachable_port_names_host_and_port():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert_one_line_error(nictest("status", "--host", f"ssh://root@127.0.0.1:{port}"),
                          "127.0.0.1", str(port))


def test_malformed_ssh_spec_is_refused():
    assert_one_line_error(nictest("status", "--host", "ssh://root@127.0.0.1:notaport"), "ssh://")


@pytest.mark.parametrize("labname", ["lab9"])
def test_unknown_lab_is_refused(labname):
    assert_one_line_error(nictest("lab", "status", labname), labname, "lab1")
