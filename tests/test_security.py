"""Access is only ever widened on request: UIO needs an explicit opt-in at every layer, and
nothing in nictest changes device-node ownership or permissions.

(Host keys: tests/test_hosts.py. Unknown ops, wrong types and devices outside the
allow-list: tests/test_fuzz_agent.py. Secrets in reports: tests/reliability/test_secrets.py.)
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import nictest
from nictest import plugin
from nictest.agent import binding_ops
from nictest.binding import safety
from nictest.cli import build_parser
from nictest.errors import RefusedError
from tests.fakesysfs import build_lab_host

PACKAGE = Path(nictest.__file__).resolve().parent


def test_agent_refuses_uio_without_the_opt_in(tmp_path):
    root = tmp_path / "root"
    build_lab_host(root, iommu=False)
    (root / "sys/bus/pci/drivers/uio_pci_generic").mkdir(parents=True)
    with pytest.raises(RefusedError, match="--allow-uio"):
        safety.check_bind(root, "0000:00:03.0", "uio_pci_generic")
    assert safety.check_bind(root, "0000:00:03.0", "uio_pci_generic", allow_uio=True).target.name == "uio_pci_generic"


def test_agent_bind_op_defaults_to_no_uio():
    assert inspect.signature(binding_ops.bind).parameters["allow_uio"].default is False


@pytest.mark.parametrize("argv", [["bind", "--host", "lab1", "0000:00:03.0", "uio_pci_generic"],
                                  ["hold", "--host", "lab1", "0000:00:03.0", "uio_pci_generic"],
                                  ["pmd", "send", "--host", "lab1", "0000:00:03.0", "--count", "1"]])
def test_cli_needs_allow_uio_spelled_out(argv):
    args = build_parser().parse_args(argv)
    assert args.allow_uio is False
    assert build_parser().parse_args(argv + ["--allow-uio"]).allow_uio is True


def test_plugin_allow_uio_is_off_unless_given():
    seen = {}

    class Group:
        def addoption(self, *names, **kw):
            seen[names[0]] = kw

    class Parser:
        def getgroup(self, *a, **k):
            return Group()

    plugin.pytest_addoption(Parser())
    assert seen["--allow-uio"]["action"] == "store_true" and seen["--allow-uio"].get("default") in (None, False)


def test_nothing_changes_device_node_ownership_or_mode():
    """No chown/chmod of device nodes anywhere (only the agent upload chmods its own files over SFTP,
    and the resident agent gives its own socket to the sudo login that started it)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("chown", "fchown", "lchown", "chmod", "fchmod"):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {ast.unparse(node)[:80]}")
    allowed = [f for f in found if "sftp.chmod" in f or "nictest/lab/" in f  # agent upload; lab image build
               or f.startswith("nictest/agent/resident.py:") and "os.chown(path, owner, -1)" in f]
    assert found == allowed, f"ownership/mode changes outside the upload and lab build: {sorted(set(found) - set(allowed))}"
