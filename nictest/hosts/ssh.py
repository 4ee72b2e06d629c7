"""SSHHost: the agent on a remote host, started on one paramiko channel.

One SSHClient per host object, created on first use. The agent package is
uploaded over SFTP into a directory named by its content hash, so a host that
already has this exact code starts it with no upload. Host keys must already be
known (the spec's known_hosts file or ~/.ssh/known_hosts): nothing is accepted
on first sight. Key authentication only; ~/.ssh/config applies as for ssh(1),
ProxyJump and ProxyCommand included (sshconfig.py): each jump host is a client of
its own, with its own host-key check, connected over a direct-tcpip channel of the
one before; the target's client owns them and closes them with itself.

A subclass (QemuLabHost) supplies address, port, identity and known_hosts from
elsewhere by overriding target_address(), target_port(), identity_file() and
known_hosts_file().

With `resident` set (the CLI sets it), the host's resident agent (agent/resident.py)
serves the call instead: a direct-streamlocal channel to its Unix socket, started
by one exec the first time, so a call after that starts no process on the host.
Whatever stands in the way (sshd's AllowStreamLocalForwarding no, a login that may
not write the socket's directory, the agent refusing a session it cannot identify)
is logged and the call gets a per-call agent, as without `resident`.
"""
from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import secrets
import shlex
import socket
import stat
import time
from dataclasses import dataclass

import paramiko

from nictest import errors
from nictest.hosts.base import AgentExited, AgentStream, Host
from nictest.hosts.bundle import AgentBundle, agent_files, content_hash
from nictest.hosts.proxysock import ProxyCommandSocket
from nictest.hosts.sshconfig import SSHConfigFile, SSHTarget
from nictest.hosts.streamlocal import open_streamlocal

__all__ = ["SSHHost", "SSHTarget", "AgentBundle", "agent_files", "content_hash", "fingerprint"]

log = logging.getLogger("nictest.hosts.ssh")

RESIDENT_SOCKET_DIR = "/run/nictest"  # a tmpfs: the resident agent is gone after a boot, so is its socket
AGENT_MISSING = 3  # exit status of the start command when the hash directory is absent
def fingerprint(key: paramiko.PKey) -> str:
    """SHA256:... as ssh-keygen -l prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """RejectPolicy, but the refusal says which key was offered and how to trust it."""

    def __init__(self, host: SSHHost, hop: _Hop, known_hosts: list[str]) -> None:
        self.host, self.hop, self.known_hosts = host, hop, known_hosts

    def missing_host_key(self, client, hostname, key) -> None:
        node = self.hop.node
        scan = f"ssh-keyscan -p {node.port} {node.hostname}"
        if node.via is not None:  # only the jump host before it can reach it
            scan = f"on jump host {node.via.alias} run `{scan}` and append its output to {self.known_hosts[0]}"
        else:
            scan = f"{scan} >> {self.known_hosts[0]}"
        raise errors.HostKeyError(
            f"{self.host.name}: host key of {self.hop.where} is not known "
            f"(offered {key.get_name()} {fingerprint(key)}; looked in {', '.join(self.known_hosts)}). "
            f"Check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_{_key_kind(key)}_key.pub), "
            f"then add it: {scan}"
        )


@dataclass(frozen=True)
class _Hop:
    """One host of the path to the target, and how error messages name it."""

    node: SSHTarget
    index: int  # 0 = the first host connected to
    path: tuple[SSHTarget, ...]

    @property
    def is_target(self) -> bool:
        return self.index == len(self.path) - 1

    @property
    def where(self) -> str:
        node = self.node
        if self.is_target:
            where = f"{node.hostname} port {node.port}"
            if len(self.path) > 1:
                where += f" (through {' -> '.join(h.alias for h in self.path[:-1])})"
        else:
            where = (f"jump host {node.alias} ({node.hostname} port {node.port}, "
                     f"hop {self.index + 1} of {len(self.path) - 1})")
        if node.proxy_command:
            where += f" (ProxyCommand {node.proxy_command})"
        return where


class _Client(paramiko.SSHClient):
    """An SSHClient that owns the clients of the jump hosts it was reached through."""

    def __init__(self) -> None:
        super().__init__()
        self.hops: list[paramiko.SSHClient] = []  # first jump host first

    def close(self) -> None:
        super().close()
        hops, self.hops = self.hops, []
        for hop in reversed(hops):
            hop.close()


def _key_kind(key: paramiko.PKey) -> str:
    name = key.get_name()
    return "ed25519" if "ed25519" in name else "ecdsa" if "ecdsa" in name else "rsa"


class ChannelStream(AgentStream):
    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel

    def write(self, data: bytes) -> None:
        self.channel.sendall(data)

    def read(self, timeout: float) -> bytes:
        self.channel.settimeout(timeout)
        try:
            return self.channel.recv(65536)
        except socket.timeout:
            raise TimeoutError from None

    def read_stderr(self) -> bytes:
        # The channel timeout is shared with read(); a timeout here just means "no stderr yet".
        while True:
            try:
                return self.channel.recv_stderr(65536)
            except socket.timeout:
                if self.channel.closed:
                    return b""

    def close_input(self) -> None:
        self.channel.shutdown_write()

    def wait(self, timeout: float) -> int | None:
        if not self.channel.status_event.wait(timeout):
            return None
        return self.channel.exit_status  # -1 if the channel closed without one

    def kill(self) -> None:
        self.channel.close()


class ResidentStream(ChannelStream):
    """A client connection of the resident agent: no process of its own, so no exit status.
    The channel closing after our EOF is the agent having run this client's hooks: 0."""

    def wait(self, timeout: float) -> int | None:
        if not self.channel.status_event.wait(timeout):
            return None
        return 0 if self.channel.exit_status == -1 else self.channel.exit_status


class SSHHost(Host):
    remote_python = "python3"
    ssh_config_path = "~/.ssh/config"
    user_known_hosts = "~/.ssh/known_hosts"

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self._client: paramiko.SSHClient | None = None
        self._target: SSHTarget | None = None
        self._bundle: AgentBundle | None = None
        self.uploads = 0  # how many times this object uploaded the agent
        self.resident = False  # serve calls from the host's resident agent (the CLI sets it)
        self._mode = "exec"    # how the next _open_stream reaches an agent: exec or resident

    # --- what a subclass may supply -----------------------------------------
    def target_address(self) -> str:
        return self.spec.address

    def target_port(self) -> int | None:
        return self.spec.port

    def identity_file(self) -> str | None:
        return self.spec.identity

    def known_hosts_file(self) -> str | None:
        return self.spec.known_hosts

    def agent_bundle(self) -> AgentBundle:
        """The agent code to run on the host (read from this checkout)."""
        return AgentBundle.read()

    def agent_cache_dir(self, user: str) -> str:
        """Where uploaded agents live; a non-root login cannot write /var/cache, so it uses its home."""
        return "/var/cache/nictest/agent" if user == "root" else ".cache/nictest/agent"

    # --- connection ---------------------------------------------------------
    def resolve_target(self) -> SSHTarget:
        """The spec (or subclass) values, with ~/.ssh/config filling what they leave open."""
        return SSHConfigFile(self.ssh_config_path).resolve(
            self.target_address(), port=self.target_port(), user=self.spec.user,
            identity=self.identity_file(), proxy_jump=self.spec.proxy_jump,
        )

    def describe(self) -> str:
        return str(self._target) if self._target else f"{self.target_address()}"

    def _connect_client(self) -> paramiko.SSHClient:
        """The target's client, connected through every jump host; closing it closes them too."""
        target = self._target = self.resolve_target()
        path = target.path()
        clients: list[_Client] = []
        try:
            for index, node in enumerate(path):
                hop = _Hop(node, index, path)
                clients.append(self._connect_hop(hop, self._hop_socket(hop, clients[-1] if clients else None)))
        except BaseException:
            for client in reversed(clients):
                client.close()
            raise
        client = clients.pop()
        client.hops = clients
        return client

    def _hop_socket(self, hop: _Hop, previous: paramiko.SSHClient | None):
        """What the client of `hop` talks over: a channel of the jump host before, a ProxyCommand, or None (TCP)."""
        node, timeout = hop.node, self.spec.connect_timeout
        if previous is not None:
            before = _Hop(node.via, hop.index - 1, hop.path)
            try:
                return previous.get_transport().open_channel(
                    "direct-tcpip", (node.hostname, node.port), ("127.0.0.1", 0), timeout=timeout)
            except paramiko.ChannelException as exc:
                reason = exc.text or f"refused (code {exc.code})"
            except (paramiko.SSHException, OSError, EOFError) as exc:
                reason = str(exc) or type(exc).__name__
                if "Timeout" in reason:
                    reason = f"no answer within {timeout:g}s"
            raise errors.HostUnreachable(
                f"{self.name}: cannot reach {hop.where}: {before.where} could not connect to it ({reason}); "
                f"check that {node.hostname} port {node.port} is up and reachable from {node.via.alias}, "
                f"and that its sshd allows TCP forwarding (AllowTcpForwarding)"
            ) from None
        if node.proxy_command:
            try:
                return ProxyCommandSocket(node.proxy_command)
            except OSError as exc:
                raise errors.HostUnreachable(
                    f"{self.name}: cannot start the ProxyCommand for {hop.where}: {exc}; fix ProxyCommand "
                    f"for {node.alias} in {self.ssh_config_path}"
                ) from None
        return None

    def _known_hosts(self) -> list[str]:
        """The files host keys are checked against, for the target and every jump host alike."""
        known = [os.path.expanduser(self.user_known_hosts)]
        if self.known_hosts_file():
            known.insert(0, self.known_hosts_file())
        return known

    def _new_client(self, hop: _Hop, known: list[str]) -> _Client:
        """A client that knows the host keys of `known` and refuses any other."""
        client = _Client()
        if os.path.isfile(known[-1]):
            client.load_system_host_keys(known[-1])
        if self.known_hosts_file():
            try:
                client.get_host_keys().load(self.known_hosts_file())
            except OSError as exc:
                raise errors.HostKeyError(
                    f"{self.name}: cannot read known_hosts file {self.known_hosts_file()}: {exc.strerror}; "
                    "fix known_hosts in hosts.toml"
                ) from None
        client.set_missing_host_key_policy(_RefuseUnknownKey(self, hop, known))
        return client

    def _connect_hop(self, hop: _Hop, sock) -> _Client:
        """One SSH connection (to a jump host or the target), every step bounded by connect_timeout."""
        node, where, timeout = hop.node, hop.where, self.spec.connect_timeout
        known = self._known_hosts()
        try:
            client = self._new_client(hop, known)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        via = f"reachable from {node.via.alias}" if node.via else "up"
        check = (f"check that {node.hostname} is {via}, that sshd listens on port {node.port}, "
                 "and that no firewall drops the connection")
        if node.proxy_command:
            check = (f"run the ProxyCommand of {node.alias} ({self.ssh_config_path}) by hand to see why, "
                     f"and check that sshd listens on {node.hostname} port {node.port}")
        auth_fix = ("set identity in hosts.toml" if hop.is_target
                    else f"set IdentityFile for {node.alias} in {self.ssh_config_path}")
        started = time.monotonic()
        try:
            client.connect(
                node.hostname, node.port, username=node.user,
                key_filename=list(node.key_filenames) or None,
                look_for_keys=node.look_for_keys, allow_agent=node.allow_agent,
                timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, sock=sock,
            )
        except errors.HostKeyError:
            _close(client, sock)
            raise
        except paramiko.BadHostKeyException as exc:
            _close(client, sock)
            raise errors.HostKeyError(
                f"{self.name}: host key of {where} CHANGED: offered "
                f"{exc.key.get_name()} {fingerprint(exc.key)}, known {fingerprint(exc.expected_key)} "
                f"(in {', '.join(known)}). If the host was reinstalled, remove the old key with "
                f"ssh-keygen -R '[{node.hostname}]:{node.port}' -f <that file> and add the new one; "
                "otherwise someone may be intercepting the connection"
            ) from None
        except paramiko.AuthenticationException as exc:
            _close(client, sock)
            keys = ", ".join(node.key_filenames) or "the ssh-agent and ~/.ssh/id_* keys"
            raise errors.HostUnreachable(
                f"{self.name}: key authentication as {node} on {where} failed ({exc}); tried {keys}. Put the "
                f"public key in ~{node.user}/.ssh/authorized_keys on the host or {auth_fix} "
                "(passwords are never used)"
            ) from None
        except (socket.timeout, TimeoutError):
            _close(client, sock)
            raise errors.HostUnreachable(f"{self.name}: cannot reach {where} within {timeout:g}s; {check}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            # The real cause can hide: NoValidConnectionsError keeps "Connection refused" in .errors,
            # and a banner timeout surfaces as "No existing session" with the cause on the transport.
            causes = getattr(exc, "errors", None)
            transport = client.get_transport()
            if transport is not None and not transport.is_active():
                transport.join(1.0)  # its thread records the cause as it ends
            saved = getattr(transport, "saved_exception", None)
            reason = "; ".join(str(e) for e in causes.values()) if isinstance(causes, dict) and causes else saved or exc
            if transport is not None and not transport.is_authenticated() and \
                    time.monotonic() - started >= timeout:
                # paramiko's negotiation wait ends quietly at the timeout and auth then says "No existing session".
                reason = (f"no SSH banner within {timeout:g}s" if not transport.remote_version
                          else f"no SSH key exchange within {timeout:g}s")
            if isinstance(sock, ProxyCommandSocket) and sock.process.poll() is not None:
                reason = f"the ProxyCommand exited (status {sock.process.returncode}) before the SSH banner"
            _close(client, sock)
            if isinstance(sock, ProxyCommandSocket) and sock.stderr_text():
                reason = f"{reason}; it said: {sock.stderr_text()}"
            raise errors.HostUnreachable(f"{self.name}: cannot connect to {where}: {reason}; {check}") from None
        client.get_transport().set_keepalive(15)  # notice a dead link while the agent is idle
        return client

    def _ensure_client(self) -> paramiko.SSHClient:
        """The connected client, connecting it on first use (or after the connection was closed)."""
        if self._client is None:
            self._client = self._connect_client()
        return self._client

    def is_connected(self) -> bool:
        """Whether the SSH connection is up; never connects (the keeper asks it while idle)."""
        client = self._client
        return client is not None and client.get_transport() is not None and client.get_transport().is_active()

    def _close_transport(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- agent start and upload ---------------------------------------------
    def agent_command(self, directory: str, arguments: str = '--ssh-connection "$SSH_CONNECTION"') -> str:
        """The one shell command that starts the agent; the only place arguments are quoted."""
        sudo = "sudo -n " if self.spec.become == "sudo" else ""
        return (
            f"cd {shlex.quote(directory)} 2>/dev/null || exit {AGENT_MISSING}; "
            f"exec {sudo}{shlex.quote(self.remote_python)} -m nictest.agent {arguments}"
        )

    def resident_command(self, directory: str) -> str:
        """The command that makes sure the resident agent serves resident_socket() and returns."""
        return self.agent_command(directory, f"--resident {shlex.quote(self.resident_socket())}")

    def resident_socket(self) -> str:
        self._agent_dir()  # reads the bundle once
        return f"{RESIDENT_SOCKET_DIR}/agent-{self._bundle.digest}.sock"

    def _agent_dir(self) -> str:
        if self._bundle is None:
            self._bundle = self.agent_bundle()
        return f"{self.agent_cache_dir(self._target.user)}/{self._bundle.digest}"

    def _open_stream(self) -> ChannelStream:
        client = self._ensure_client()
        if self._mode == "resident":
            return self._open_resident()
        try:
            channel = client.get_transport().open_session(timeout=self.spec.connect_timeout)
            channel.exec_command(self.agent_command(self._agent_dir()))
        except (paramiko.SSHException, OSError) as exc:
            raise errors.HostUnreachable(f"{self.name}: cannot start the agent on {self.describe()}: {exc}") from None
        return ChannelStream(channel)

    def _start(self) -> None:
        if self.resident and self._resident_possible():
            try:
                self._start_as("resident")
                return
            except (errors.HostKeyError, errors.PrerequisiteMissing):
                raise
            except errors.NictestError as exc:
                log.info("%s: no resident agent (%s); starting a per-call agent", self.name, exc)
        self._start_as("exec")

    def _start_as(self, mode: str) -> None:
        """Start the agent by `mode`, uploading it first when the host lacks this code."""
        self._mode = mode
        self._uploading_if_missing(super()._start)

    def _uploading_if_missing(self, start):
        """start(), and once more after an upload if the host lacks this code."""
        try:
            return start()
        except AgentExited as exc:
            if exc.status != AGENT_MISSING:
                raise
        self._upload()
        return start()

    def check_up(self) -> None:
        """Raise HostUnreachable, naming the fix, when the host cannot be up (a subclass knows)."""

    def resident_channel(self) -> paramiko.Channel:
        """A channel of this connection to the resident agent, started (and uploaded) if needed:
        one client's connection, for the controller's connection keeper (mux.py)."""
        self._ensure_client()
        return self._uploading_if_missing(self._open_resident).channel

    def resident_possible(self) -> bool:
        """Whether this login may run the resident agent; connects first (that resolves the login user)."""
        return self._resident_possible()

    def _resident_possible(self) -> bool:
        """The resident socket lives under /run: only a root login, or one that becomes root, may make it."""
        self._ensure_client()
        return self._target.user == "root" or self.spec.become == "sudo"

    def _open_resident(self) -> ResidentStream:
        """A channel to the resident agent's socket, starting the agent if nobody answers there."""
        path = self.resident_socket()
        try:
            return self._resident_channel(path)
        except paramiko.ChannelException:
            pass  # no agent there yet (first call after a boot, or new code)
        status, output = self._run(self.resident_command(self._agent_dir()), self.spec.call_timeout)
        if status == AGENT_MISSING:
            raise AgentExited(f"{self.name}: the agent is not on the host yet", status)
        if status != 0:
            raise errors.HostUnreachable(f"{self.name}: the resident agent did not start (status {status}): {output}")
        try:
            return self._resident_channel(path)
        except paramiko.ChannelException as exc:
            raise errors.HostUnreachable(
                f"{self.name}: sshd on {self.describe()} refused a channel to {path} ({exc.text or exc.code}); "
                "it needs AllowStreamLocalForwarding yes (the default)") from None

    def _resident_channel(self, path: str) -> ResidentStream:
        """paramiko.ChannelException when sshd refuses (the caller decides what that means)."""
        try:
            return ResidentStream(open_streamlocal(self._client.get_transport(), path, self.spec.connect_timeout))
        except paramiko.ChannelException:
            raise
        except (paramiko.SSHException, OSError) as exc:
            raise errors.HostUnreachable(f"{self.name}: cannot open {path} on {self.describe()}: {exc}") from None

    def _run(self, command: str, timeout: float) -> tuple[int | None, str]:
        """Exit status and output (stdout and stderr together) of one command on the host."""
        try:
            channel = self._client.get_transport().open_session(timeout=self.spec.connect_timeout)
            channel.set_combine_stderr(True)
            channel.settimeout(timeout)
            channel.exec_command(command)
            output = b""
            while True:
                chunk = channel.recv(65536)
                if not chunk:
                    break
                output += chunk
            status = channel.recv_exit_status() if channel.status_event.wait(timeout) else None
            channel.close()
        except (paramiko.SSHException, OSError) as exc:  # socket.timeout included
            raise errors.HostUnreachable(f"{self.name}: `{command}` on {self.describe()}: {exc}") from None
        return status, output.decode(errors="replace").strip()[-2000:]

    def _upload(self) -> None:
        """Copy the agent into <cache>/<hash> atomically: a temp dir renamed into place."""
        final = self._agent_dir()
        cache = final.rsplit("/", 1)[0]
        temp = f"{cache}/.upload-{self._bundle.digest}-{secrets.token_hex(4)}"
        log.info("%s: uploading the agent to %s", self.name, final)
        try:
            sftp = self._client.open_sftp()
        except (paramiko.SSHException, OSError) as exc:
            raise errors.HostUnreachable(f"{self.name}: cannot open SFTP on {self.describe()}: {exc}") from None
        try:
            _makedirs(sftp, cache)
            sftp.mkdir(temp, 0o755)
            made = {temp}
            for rel, data in self._bundle.files:
                parent = f"{temp}/{rel.rsplit('/', 1)[0]}"
                for directory in _parents(temp, parent):
                    if directory not in made:
                        sftp.mkdir(directory, 0o755)
                        made.add(directory)
                sftp.putfo(io.BytesIO(data), f"{temp}/{rel}", file_size=len(data))
                sftp.chmod(f"{temp}/{rel}", 0o644)
            try:
                sftp.rename(temp, final)
            except OSError:
                if not _exists(sftp, final):  # otherwise a concurrent upload won: same content
                    raise
            self.uploads += 1
        except OSError as exc:
            raise errors.HostUnreachable(
                f"{self.name}: cannot upload the agent to {final} on {self.describe()}: {exc}; "
                f"check that {self._target.user} can write {cache}"
            ) from None
        finally:
            _remove_tree(sftp, temp)
            sftp.close()


def _close(client: paramiko.SSHClient, sock) -> None:
    """After a failed connect: the client, and the socket if the transport never took it over."""
    client.close()
    if sock is not None:
        sock.close()


def _parents(root: str, directory: str) -> list[str]:
    """Directories from just below `root` down to `directory`."""
    parts = directory[len(root):].strip("/").split("/")
    return [f"{root}/{'/'.join(parts[:i + 1])}" for i in range(len(parts)) if parts[0]]


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
        return True
    except OSError:
        return False


def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    current = "/" if path.startswith("/") else ""
    for part in path.strip("/").split("/"):
        current = f"{current}{part}"
        if not _exists(sftp, current):
            sftp.mkdir(current, 0o755)
        current += "/"


def _remove_tree(sftp: paramiko.SFTPClient, path: str) -> None:
    """Best effort: a leftover temp dir is harmless (never used), just untidy."""
    try:
        entries = sftp.listdir_attr(path)
    except OSError:
        return
    for entry in entries:
        child = f"{path}/{entry.filename}"
        if stat.S_ISDIR(entry.st_mode):
            _remove_tree(sftp, child)
        else:
            try:
                sftp.remove(child)
            except OSError:
                pass
    try:
        sftp.rmdir(path)
    except OSError:
        pass
