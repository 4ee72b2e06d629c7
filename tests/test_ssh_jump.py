"""Hosts behind jump hosts: ProxyJump chains and ProxyCommand, against real sshds on loopback.

Three private sshds (bastion, inner, and the lab host the agent runs on) are
started with generated host and client keys in a temp dir (tests/test_hosts.py's
Sshd). HOME is a temp dir, so ~/.ssh/config and ~/.ssh/known_hosts are the
test's own. The jump hosts' keys are in ~/.ssh/known_hosts, the lab host's in
the spec's known_hosts file, as a user would have them.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest

from nictest import inventory
from nictest.bench.shell import ssh_argv
from nictest.errors import HostKeyError, HostUnreachable, InventoryError
from nictest.hosts.proxysock import ProxyCommandSocket
from nictest.hosts.ssh import AgentBundle, SSHHost, fingerprint
from nictest.hosts.sshconfig import SSHConfigFile
from nictest.inventory import HostSpec
from tests.test_hosts import SSHD, Sshd, free_port, keygen, loopback_host_class, needs_root

USER = getpass.getuser()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if SSHD is None:
        pytest.skip("sshd not installed: apt-get install openssh-server")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    started = {}
    try:
        for name in ("bastion", "inner", "lab"):
            started[name] = Sshd(tmp_path_factory.mktemp(name))
        yield started
    finally:
        for server in started.values():
            server.stop()


def host_block(alias: str, server: Sshd, *extra: str) -> str:
    lines = [f"Host {alias}", "  HostName 127.0.0.1", f"  Port {server.port}", f"  User {USER}",
             f"  IdentityFile {server.client_key_path}", "  IdentitiesOnly yes", *(f"  {e}" for e in extra)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def home(tmp_path, monkeypatch, servers) -> Path:
    """A fresh HOME (each test writes its ~/.ssh/config), the jump hosts' keys in ~/.ssh/known_hosts."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (home / ".ssh" / "known_hosts").write_text(servers["bastion"].known_hosts_line()
                                               + servers["inner"].known_hosts_line())
    return home


def write_config(home: Path, *blocks: str) -> None:
    (home / ".ssh" / "config").write_text("\n".join(blocks))


@pytest.fixture(scope="module")
def bundle() -> AgentBundle:
    return AgentBundle.read()


@pytest.fixture(scope="module")
def host_class(bundle, tmp_path_factory) -> type:
    """One agent cache for the module: the agent is uploaded once, as on a real host."""
    return loopback_host_class(tmp_path_factory.mktemp("agent-cache"), bundle)


@pytest.fixture
def make_host(servers, home, host_class, tmp_path):
    known_hosts = tmp_path / "lab_known_hosts"
    known_hosts.write_text(servers["lab"].known_hosts_line())
    cls = host_class
    made = []

    def make(address: str, **overrides):
        fields = dict(name="lab", kind="ssh", address=address, known_hosts=str(known_hosts),
                      connect_timeout=5.0, call_timeout=30.0)
        fields.update(overrides)
        host = cls(HostSpec(**fields))
        made.append(host)
        return host

    yield make
    for host in made:
        host.close()


def hop_transports(host) -> list[paramiko.Transport]:
    return [hop.get_transport() for hop in host._client.hops]


def socket_fds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def settle(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- the agent through jump hosts ---------------------------------------------

@needs_root
def test_agent_through_two_jump_hosts_and_close_releases_every_hop(make_host, home, servers):
    write_config(home, host_block("bastion", servers["bastion"]), host_block("inner", servers["inner"]),
                 host_block("lab2", servers["lab"], "ProxyJump bastion,inner"))
    threads_before = set(threading.enumerate())
    sockets_before = socket_fds()
    host = make_host("lab2")
    info = host.start()
    assert info["agent_version"]
    assert isinstance(host.call("status", timeout=60)["devices"], list)  # what `nictest status` asks
    bastion, inner = hop_transports(host)
    lab = host._client.get_transport()
    assert bastion.getpeername()[1] == servers["bastion"].port  # the only TCP connection made here
    assert isinstance(inner.sock, paramiko.Channel) and isinstance(lab.sock, paramiko.Channel)
    assert host._target.via.alias == "inner" and host._target.via.via.alias == "bastion"
    host.close()
    assert host.exit_status == 0
    assert [t.is_active() for t in (bastion, inner, lab)] == [False, False, False]
    assert settle(lambda: set(threading.enumerate()) <= threads_before), \
        f"threads left: {set(threading.enumerate()) - threads_before}"
    assert settle(lambda: socket_fds() <= sockets_before), f"{socket_fds()} sockets open, {sockets_before} before"


@needs_root
def test_agent_through_one_jump_host_rides_on_it(make_host, home, servers):
    write_config(home, host_block("bastion", servers["bastion"]),
                 host_block("lab1", servers["lab"], "ProxyJump bastion"))
    host = make_host("lab1")
    assert host.call("ping") == {"pong": True}
    (bastion,) = hop_transports(host)
    target = host._client.get_transport()
    bastion.close()  # the jump host's connection drops: the lab host's rides on it, so it drops too
    assert settle(lambda: not target.is_active()), "the lab connection did not go through the jump host"
    assert host.call("ping") == {"pong": True}  # the one reconnect goes through the jump host again
    assert len(host._client.hops) == 1 and host._client.hops[0].get_transport().is_active()


@needs_root
def test_agent_through_proxycommand_ssh_w(make_host, home, servers, tmp_path):
    if shutil.which("ssh") is None:
        pytest.skip("the OpenSSH client is not installed: apt-get install openssh-client")
    bastion = servers["bastion"]
    # The OpenSSH client's own config: the bastion, its key checked, nothing asked.
    known = tmp_path / "ssh_known_hosts"
    known.write_text(bastion.known_hosts_line())
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(host_block("bastion", bastion, f"UserKnownHostsFile {known}", "BatchMode yes",
                                     "StrictHostKeyChecking yes", "GlobalKnownHostsFile /dev/null"))
    write_config(home, host_block("labcmd", servers["lab"], f"ProxyCommand ssh -F {ssh_config} -W %h:%p bastion"))
    host = make_host("labcmd")
    assert host.call("ping") == {"pong": True}
    proxy = host._client.get_transport().sock
    assert isinstance(proxy, ProxyCommandSocket)
    assert proxy.process.args[-1].endswith(f"-W 127.0.0.1:{servers['lab'].port} bastion")  # %h:%p expanded
    host.close()
    assert proxy.process.returncode is not None  # reaped, not a zombie


def test_proxycommand_failure_is_reported_with_its_stderr(make_host, home, servers, tmp_path):
    if shutil.which("ssh") is None:
        pytest.skip("the OpenSSH client is not installed: apt-get install openssh-client")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(host_block("bastion", servers["bastion"], f"UserKnownHostsFile {empty}",
                                     "BatchMode yes", "StrictHostKeyChecking yes", "GlobalKnownHostsFile /dev/null"))
    write_config(home, host_block("labcmd", servers["lab"], f"ProxyCommand ssh -F {ssh_config} -W %h:%p bastion"))
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as info:
        make_host("labcmd").start()
    assert time.monotonic() - started < 5  # the dead command is seen at once, not waited out
    message = str(info.value)
    assert "ProxyCommand ssh -F" in message and "Host key verification failed" in message


def test_proxy_jump_in_hosts_toml_replaces_the_config(make_host, home, servers):
    # The config sends "lab" through a jump host that does not exist; hosts.toml's proxy_jump wins.
    write_config(home, host_block("bastion", servers["bastion"]),
                 host_block("lab", servers["lab"], f"ProxyJump nobody@127.0.0.1:{free_port()}"))
    client = make_host("lab", proxy_jump="bastion")._connect_client()
    try:
        (bastion,) = client.hops
        assert bastion.get_transport().getpeername()[1] == servers["bastion"].port
        assert isinstance(client.get_transport().sock, paramiko.Channel)
    finally:
        client.close()
    client = make_host("lab", proxy_jump="none")._connect_client()
    try:
        assert client.hops == [] and client.get_transport().getpeername()[1] == servers["lab"].port
    finally:
        client.close()


def test_proxycommand_socket_sees_eof_and_reaps_the_command():
    done = ProxyCommandSocket("sh -c 'printf hello; echo oops >&2'")  # run as ssh runs it: sh -c "exec ..."
    done.settimeout(5)
    data = b""
    while chunk := done.recv(100):  # b"" at EOF, not a spin until the timeout
        data += chunk
    done.close()
    assert (data, done.process.returncode, done.stderr_text()) == (b"hello", 0, "oops")
    stuck = ProxyCommandSocket("sleep 30")
    stuck.settimeout(0.2)
    with pytest.raises(socket.timeout):
        stuck.recv(1)
    stuck.close()
    assert stuck.process.returncode is not None and stuck.closed and stuck.recv(1) == b""


# --- host keys at every hop ------------------------------------------------------

def test_changed_key_at_the_middle_hop_is_refused_naming_it(make_host, home, servers, tmp_path):
    other = keygen(tmp_path / "other_key")
    (home / ".ssh" / "known_hosts").write_text(servers["bastion"].known_hosts_line()
                                               + servers["inner"].known_hosts_line(other))
    write_config(home, host_block("bastion", servers["bastion"]), host_block("inner", servers["inner"]),
                 host_block("lab2", servers["lab"], "ProxyJump bastion,inner"))
    threads_before = set(threading.enumerate())
    with pytest.raises(HostKeyError) as info:
        make_host("lab2")._connect_client()
    message = str(info.value)
    assert f"host key of jump host inner (127.0.0.1 port {servers['inner'].port}, hop 2 of 2) CHANGED" in message
    assert fingerprint(servers["inner"].host_key) in message and fingerprint(other) in message
    assert settle(lambda: set(threading.enumerate()) <= threads_before)  # bastion's connection closed too


def test_unknown_key_at_the_middle_hop_is_refused_naming_who_can_scan_it(make_host, home, servers):
    (home / ".ssh" / "known_hosts").write_text(servers["bastion"].known_hosts_line())
    write_config(home, host_block("bastion", servers["bastion"]), host_block("inner", servers["inner"]),
                 host_block("lab2", servers["lab"], "ProxyJump bastion,inner"))
    with pytest.raises(HostKeyError) as info:
        make_host("lab2")._connect_client()
    message = str(info.value)
    assert "jump host inner" in message and "is not known" in message
    assert fingerprint(servers["inner"].host_key) in message
    assert f"on jump host bastion run `ssh-keyscan -p {servers['inner'].port} 127.0.0.1`" in message


def test_unknown_key_of_the_target_behind_a_jump_is_refused(make_host, home, servers, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    write_config(home, host_block("bastion", servers["bastion"]),
                 host_block("lab1", servers["lab"], "ProxyJump bastion"))
    with pytest.raises(HostKeyError) as info:
        make_host("lab1", known_hosts=str(empty))._connect_client()
    message = str(info.value)
    assert f"127.0.0.1 port {servers['lab'].port} (through bastion) is not known" in message
    assert fingerprint(servers["lab"].host_key) in message


def test_ssh_config_cannot_switch_host_key_checking_off_for_a_hop(make_host, home, servers, tmp_path):
    other = keygen(tmp_path / "other_key")
    (home / ".ssh" / "known_hosts").write_text(servers["bastion"].known_hosts_line(other))
    write_config(home, host_block("bastion", servers["bastion"], "StrictHostKeyChecking no",
                                  "UserKnownHostsFile /dev/null"),
                 host_block("lab1", servers["lab"], "ProxyJump bastion"))
    with pytest.raises(HostKeyError, match="jump host bastion .*CHANGED"):
        make_host("lab1")._connect_client()


def test_wrong_key_for_a_jump_host_names_it_and_the_config(make_host, home, servers, tmp_path):
    stranger = tmp_path / "stranger"
    keygen(stranger)
    write_config(home, host_block("bastion", servers["bastion"]).replace(str(servers["bastion"].client_key_path),
                                                                         str(stranger)),
                 host_block("lab1", servers["lab"], "ProxyJump bastion"))
    with pytest.raises(HostUnreachable) as info:
        make_host("lab1")._connect_client()
    message = str(info.value)
    assert f"on jump host bastion (127.0.0.1 port {servers['bastion'].port}, hop 1 of 1) failed" in message
    assert "set IdentityFile for bastion in ~/.ssh/config" in message and str(stranger) in message


# --- unreachable hops ------------------------------------------------------------

def test_silent_middle_hop_times_out_naming_it(make_host, home, servers):
    with socket.socket() as silent:  # accepts TCP, never sends a banner
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        write_config(home, host_block("bastion", servers["bastion"]),
                     f"Host stuck\n  HostName 127.0.0.1\n  Port {port}\n",
                     host_block("lab2", servers["lab"], "ProxyJump bastion,stuck"))
        started = time.monotonic()
        with pytest.raises(HostUnreachable) as info:
            make_host("lab2", connect_timeout=1.0)._connect_client()
        assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"jump host stuck (127.0.0.1 port {port}, hop 2 of 2)" in message
    assert "no SSH banner within 1s" in message


def test_closed_port_behind_the_jump_host_names_both(make_host, home, servers):
    port = free_port()
    write_config(home, host_block("bastion", servers["bastion"]),
                 f"Host gone\n  HostName 127.0.0.1\n  Port {port}\n",
                 host_block("lab2", servers["lab"], "ProxyJump bastion,gone"))
    with pytest.raises(HostUnreachable) as info:
        make_host("lab2")._connect_client()
    message = str(info.value)
    assert f"cannot reach jump host gone (127.0.0.1 port {port}, hop 2 of 2)" in message
    assert "jump host bastion" in message and "could not connect to it" in message


def test_unreachable_first_hop_names_it(make_host, home, servers):
    port = free_port()
    write_config(home, f"Host bastion\n  HostName 127.0.0.1\n  Port {port}\n",
                 host_block("lab1", servers["lab"], "ProxyJump bastion"))
    with pytest.raises(HostUnreachable, match=rf"jump host bastion \(127.0.0.1 port {port}, hop 1 of 1\)"):
        make_host("lab1", connect_timeout=2.0)._connect_client()


# --- resolving the path (no connection) ------------------------------------------

def resolve(tmp_path: Path, text: str, alias: str, **kwargs):
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return SSHConfigFile(str(path)).resolve(alias, **kwargs)


def test_hops_are_looked_up_in_the_config_with_explicit_user_and_port(tmp_path):
    target = resolve(tmp_path, "Host lab\n  HostName 10.0.0.5\n  ProxyJump admin@bastion:2201,inner\n"
                               "Host bastion\n  HostName 192.0.2.1\n  Port 22\n  User nobody\n"
                               "Host inner\n  HostName 10.0.0.1\n  User qa\n", "lab")
    bastion, inner, lab = target.path()
    assert (bastion.hostname, bastion.port, bastion.user) == ("192.0.2.1", 2201, "admin")
    assert (inner.hostname, inner.port, inner.user) == ("10.0.0.1", 22, "qa")
    assert (lab.hostname, lab.alias, lab.via) == ("10.0.0.5", "lab", inner)


def test_first_hop_keeps_its_own_proxy_later_hops_do_not(tmp_path):
    text = ("Host lab\n  ProxyJump inner,edge\nHost inner\n  ProxyJump gate\n"
            "Host edge\n  ProxyCommand nc %h %p\nHost gate\n  HostName 198.51.100.7\n")
    gate, inner, edge, lab = resolve(tmp_path, text, "lab").path()
    assert (gate.hostname, inner.alias, edge.alias, lab.alias) == ("198.51.100.7", "inner", "edge", "lab")
    assert edge.proxy_command is None  # as with ssh -J: hop 2 on is reached through the hop before


def test_proxycommand_tokens_use_the_explicit_port_and_user(tmp_path):
    text = "Host lab\n  HostName 10.0.0.5\n  Port 2222\n  ProxyCommand ssh -W %h:%p -l %r gate\n"
    assert resolve(tmp_path, text, "lab").proxy_command == "ssh -W 10.0.0.5:2222 -l " + USER + " gate"
    explicit = resolve(tmp_path, text, "lab", port=10022, user="qa")
    assert explicit.proxy_command == "ssh -W 10.0.0.5:10022 -l qa gate"
    assert (explicit.port, explicit.user) == (10022, "qa")


def test_whichever_of_proxyjump_and_proxycommand_comes_first_wins(tmp_path):
    first_jump = resolve(tmp_path, "Host lab\n  ProxyJump gate\nHost *\n  ProxyCommand nc %h %p\n", "lab")
    assert first_jump.via.alias == "gate" and first_jump.proxy_command is None
    first_command = resolve(tmp_path, "Host lab\n  ProxyCommand nc %h %p\nHost *\n  ProxyJump gate\n", "lab")
    assert first_command.via is None and first_command.proxy_command == "nc lab 22"


@pytest.mark.parametrize("line", ["ProxyJump none", "ProxyCommand none", "ProxyJump NONE"])
def test_none_disables_a_later_proxy(tmp_path, line):
    target = resolve(tmp_path, f"Host lab\n  {line}\nHost *\n  ProxyJump gate\n  ProxyCommand nc %h %p\n", "lab")
    assert target.via is None and target.proxy_command is None


def test_hosts_toml_proxy_jump_replaces_both(tmp_path):
    text = "Host lab\n  ProxyCommand nc %h %p\n"
    assert resolve(tmp_path, text, "lab", proxy_jump="gate").via.alias == "gate"
    direct = resolve(tmp_path, text, "lab", proxy_jump="none")
    assert direct.via is None and direct.proxy_command is None


def test_a_jump_loop_is_refused(tmp_path):
    with pytest.raises(InventoryError, match="longer than 8 .*fix the ProxyJump lines"):
        resolve(tmp_path, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n", "a")


def test_a_bad_hop_in_the_config_names_the_file_and_host(tmp_path):
    with pytest.raises(InventoryError, match=r"ssh_config: ProxyJump for 'lab': jump host 'gate:port' "):
        resolve(tmp_path, "Host lab\n  ProxyJump gate:port\n", "lab")


# --- hosts.toml ------------------------------------------------------------------

def test_inventory_proxy_jump_key(tmp_path):
    path = tmp_path / "hosts.toml"
    path.write_text('[hosts.rack]\nkind = "ssh"\naddress = "10.0.0.5"\nproxy_jump = "qa@bastion:2201, inner"\n')
    assert inventory.load(path).get("rack").proxy_jump == "qa@bastion:2201, inner"
    path.write_text('[hosts.rack]\nkind = "ssh"\naddress = "10.0.0.5"\nproxy_jump = "bastion:22:33"\n')
    with pytest.raises(InventoryError, match=r"hosts.rack.proxy_jump: expected jump hosts .*'bastion:22:33'"):
        inventory.load(path)
    path.write_text('[hosts.rack]\nkind = "local"\nproxy_jump = "bastion"\n')
    with pytest.raises(InventoryError, match="hosts.rack.proxy_jump: expected no such key for kind 'local'"):
        inventory.load(path)


def test_jump_hops_grammar():
    assert inventory.jump_hops("a, qa@b:2201,ssh://r@c:22") == ((None, "a", None), ("qa", "b", 2201), ("r", "c", 22))
    assert inventory.jump_hops("none") == ()
    for bad in ("a,,b", "b:0x", "a/b", "u:pw@b"):
        with pytest.raises(ValueError, match="is not \\[user@\\]host\\[:port\\]"):
            inventory.jump_hops(bad)


def test_bench_ssh_argv_takes_the_same_path(home):
    write_config(home, "Host lab\n  HostName 10.0.0.5\n  ProxyJump qa@bastion:2201,[2001:db8::1]\n"
                       "Host cmd\n  ProxyCommand nc %h %p\n")
    argv = ssh_argv(SSHHost(HostSpec(name="lab", kind="ssh", address="lab")))
    assert argv[argv.index("-J") + 1] == f"qa@bastion:2201,{USER}@[2001:db8::1]:22" and argv[-1] == f"{USER}@10.0.0.5"
    argv = ssh_argv(SSHHost(HostSpec(name="cmd", kind="ssh", address="cmd", port=2022)))
    assert "-J" not in argv and "ProxyCommand=nc cmd 2022" in argv
