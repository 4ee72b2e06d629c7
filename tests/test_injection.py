"""Hostile names cannot run commands: nothing in nictest/ goes through a shell with a name in it.

1. Static: every subprocess call in nictest/ passes an argv list and never shell=True;
   os.system/os.popen are not used. The one shell string nictest builds (the SSH
   exec line that starts the agent) quotes its only variable with shlex.
2. Dynamic: netdev and module names with `;`, `$()`, backticks, spaces, newlines and a
   leading `-` go through the real code paths (netstate over a synthetic sysfs tree,
   modprobe, the agent's net ops) to stand-in `ip`/`modprobe` programs first on PATH:
   each name arrives as exactly one argument, and the injected command never runs.
"""
from __future__ import annotations

import ast
import json
import os
import shlex
import stat
from pathlib import Path

import pytest

import nictest
from nictest.binding import bind as binder
from nictest.binding import drivers, netstate
from nictest.errors import NictestError, RefusedError
from tests.fakesysfs import FakeSysfs

PACKAGE = Path(nictest.__file__).resolve().parent
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def calls_in(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            yield owner, node.func.attr, node


def test_no_shell_anywhere_in_the_package():
    offenders, argv_calls = [], 0
    for path in sorted(PACKAGE.rglob("*.py")):
        for owner, name, node in calls_in(path):
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            if owner == "os" and name in ("system", "popen") or name in ("getoutput", "getstatusoutput"):
                offenders.append(f"{where}: {owner}.{name} runs a shell")
            if owner == "subprocess" and name in SUBPROCESS_CALLS:
                argv_calls += 1
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        offenders.append(f"{where}: shell={ast.unparse(kw.value)}")
                first = node.args[0] if node.args else None
                if isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                    offenders.append(f"{where}: command given as a string: {ast.unparse(first)[:60]}")
    assert not offenders, offenders
    assert argv_calls >= 8, f"found only {argv_calls} subprocess calls: the scan is not seeing the code"


def test_the_ssh_exec_line_quotes_its_only_variable():
    from nictest.hosts.ssh import SSHHost
    from nictest.inventory import HostSpec

    host = SSHHost(HostSpec(name="h", kind="ssh", address="127.0.0.1"))
    hostile = "/tmp/x; touch /tmp/PWNED $(id) `id`"
    line = host.agent_command(hostile)
    assert shlex.split(line.split(" 2>/dev/null")[0]) == ["cd", hostile]


HOSTILE_NAMES = ["e;touch {m}", "$(touch {m})", "`touch {m}`", "a b&&touch {m}", "x\ntouch {m}", "-ftouch{m}",
                 "|touch {m}", "'\"{m}"]


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    """Stand-in `ip` and `modprobe` first on PATH: they record argv (JSON) and exit 0."""
    bindir, log = tmp_path / "bin", tmp_path / "argv.jsonl"
    bindir.mkdir()
    for tool in ("ip", "modprobe"):
        script = bindir / tool
        script.write_text(f"#!/usr/bin/env python3\nimport json, sys\n"
                          f"open({str(log)!r}, 'a').write(json.dumps(sys.argv) + '\\n')\n"
                          f"print('[]' if sys.argv[1:2] == ['-j'] else '')\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # an injected `touch PWNED` would land here (names cannot hold "/")

    def argvs() -> list:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return argvs


@pytest.mark.parametrize("template", HOSTILE_NAMES)
def test_hostile_netdev_names_reach_ip_as_one_argument(tmp_path, recorder, monkeypatch, template):
    marker = tmp_path / "PWNED"
    name = template.format(m=marker.name)
    root = tmp_path / "root"
    fake = FakeSysfs(root)
    fake.add_pci("0000:00:03.0", driver="e1000e", module="e1000e")
    fake.add_netdev(name, pci="0000:00:03.0", mac="52:54:00:00:00:03")
    (root / "sys/class/net" / name / "flags").write_text("0x1003\n")
    # Link flags and addresses go through ioctl/rtnetlink as data; record what name they got.
    kernel_calls = []
    monkeypatch.setattr(netstate, "set_link", lambda n, up: kernel_calls.append(("set_link", n, up)))
    monkeypatch.setattr(netstate, "read_addresses", lambda n: kernel_calls.append(("addresses", n)) or [])
    saved = netstate.snapshot(root, name)
    netstate.link_down(name)
    netstate.put_back(root, name, dict(saved, mtu=9000, addresses=[{"family": "inet", "local": "10.9.9.9",
                                                                     "prefixlen": 24, "scope": "global"}]))
    calls = recorder()
    assert calls, "the stand-in ip never ran"
    for argv in calls:
        assert argv[0].endswith("/ip")
        assert name in argv, f"{name!r} was split or altered: {argv}"
    assert not marker.exists(), "an injected command ran"
    assert ("set_link", name, False) in kernel_calls and ("addresses", name) in kernel_calls, kernel_calls


@pytest.mark.parametrize("template", HOSTILE_NAMES)
def test_hostile_netdev_names_are_only_data_to_the_kernel(tmp_path, template):
    """The real ioctl/rtnetlink readers on this machine: a hostile name is refused or not found,
    nothing runs (read-only: SIOCGIFFLAGS fails before any SIOCSIFFLAGS)."""
    from nictest.binding import rtnl
    from nictest.errors import BindError
    marker = tmp_path / "PWNED"
    name = template.format(m=marker)
    with pytest.raises(BindError):
        rtnl.set_link(name, False)
    with pytest.raises(BindError):
        rtnl.addresses(name)
    assert not marker.exists()


@pytest.mark.parametrize("template", HOSTILE_NAMES)
def test_hostile_module_names_reach_modprobe_as_one_argument(tmp_path, recorder, template):
    marker = tmp_path / "PWNED"
    module = template.format(m=marker.name)
    binder.modprobe(module)
    assert drivers.modprobe_dry_run(module) is True
    assert [argv[1:] for argv in recorder()] == [[module], ["-n", module]]
    assert not marker.exists()


@pytest.mark.parametrize("template", HOSTILE_NAMES[:4])
def test_agent_net_ops_pass_hostile_interface_names_as_one_argument(tmp_path, recorder, template):
    from nictest.agent import pmd_ops

    marker = tmp_path / "PWNED"
    name = template.format(m=marker.name)
    refused = False
    try:
        pmd_ops.net_prepare(None, name, up=True, ipv6=True, carrier_timeout_ms=0)
    except RefusedError:
        refused = True  # not a possible netdev name (spaces, '/', ...): refused before anything ran
    except (NictestError, OSError):
        pass  # no such interface: refusing is fine, running a command is not
    calls = recorder()
    assert refused or calls, "the stand-in ip never ran and the name was not refused"
    for argv in calls:
        assert name in argv, argv
    assert not marker.exists()


@pytest.mark.parametrize("name", ["..", ".", "../../etc", "a/b", "x" * 16, "", "a b", "eth0:1"])
def test_ops_refuse_names_that_would_leave_their_sysfs_directory(name):
    from nictest.agent.net_ops import netdev_name
    from nictest.agent.pmd_ops import net_counters, net_prepare
    from nictest.errors import RefusedError
    with pytest.raises(RefusedError, match="not a netdev name"):
        netdev_name(name)
    with pytest.raises(RefusedError):
        net_counters(None, name)
    with pytest.raises(RefusedError):
        net_prepare(None, name)
