"""~/.ssh/config as ssh(1) applies it: where a host is, as whom, and the path to it.

resolve() turns a host name into an SSHTarget: HostName, Port, User and keys
from the config, and how to get there: directly, through `ProxyJump` hops
(each looked up here in turn, as `ssh -J` does), or through a `ProxyCommand`.
Nothing here opens a connection (the SSH transport does, hop by hop).

Values given explicitly (hosts.toml's port and user, or the user@host:port of a
hop) win over the config, as ssh's -p and -l do, and the config's %p and %r in a
ProxyCommand expand to them: they are read as a first `Host` block.
"""
from __future__ import annotations

import getpass
import glob
import io
import os
from dataclasses import dataclass, replace

import paramiko

from nictest import errors
from nictest.inventory import jump_hops

MAX_HOPS = 8  # a longer chain is almost surely a loop (A jumps via B, B via A)


@dataclass(frozen=True)
class SSHTarget:
    """Where and as whom to connect, after ~/.ssh/config is applied, and what it is reached through."""

    hostname: str
    port: int
    user: str
    key_filenames: tuple[str, ...]
    look_for_keys: bool
    allow_agent: bool
    alias: str = ""  # the name looked up in the config (what the user wrote)
    via: SSHTarget | None = None  # the jump host a direct-tcpip channel to this one is opened on
    proxy_command: str | None = None  # else a command whose stdin/stdout reach this host

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"

    def path(self) -> tuple[SSHTarget, ...]:
        """Every host to connect to, first jump host first, this one last."""
        hops = [self]
        while hops[0].via is not None:
            hops.insert(0, hops[0].via)
        return tuple(hops)


class SSHConfigFile:
    """One ssh_config file (absent: empty), read once."""

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)
        try:
            with open(self.path, encoding="utf-8") as handle:
                self.text = handle.read()
        except FileNotFoundError:
            self.text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.InventoryError(f"{self.path}: cannot read it: {exc}; fix that file") from None

    def lookup(self, alias: str, port: int | None = None, user: str | None = None) -> paramiko.SSHConfigDict:
        """The options for `alias`, with an explicit port/user taking precedence."""
        if not alias or any(c.isspace() for c in alias):
            raise errors.InventoryError(f"{alias!r} is not a host name: give an address or ssh_config alias")
        first = "".join([f"Host {glob.escape(alias)}\n",
                         f"  Port {port}\n" if port else "", f"  User {user}\n" if user else ""])
        config = paramiko.SSHConfig()
        try:
            config.parse(io.StringIO(first))
            config.parse(io.StringIO(self.text))
            return config.lookup(alias)
        except (paramiko.ssh_exception.ConfigParseError, ValueError, OSError) as exc:
            raise errors.InventoryError(f"{self.path}: cannot use it for {alias!r}: {exc}; fix that file") from None

    def resolve(self, alias: str, port: int | None = None, user: str | None = None,
                identity: str | None = None, proxy_jump: str | None = None, depth: int = 0) -> SSHTarget:
        """The SSHTarget for `alias`; proxy_jump (hosts.toml's) replaces the config's ProxyJump/ProxyCommand."""
        entry = self.lookup(alias, port, user)
        try:
            config_port = int(entry.get("port", 22))
        except ValueError:
            raise errors.InventoryError(f"{self.path}: Port for {alias!r} is not a number; fix that file") from None
        identities_only = entry.get("identitiesonly", "no").lower() == "yes"
        configured = [os.path.expanduser(p) for p in entry.get("identityfile", [])]
        keys = [identity] if identity else [p for p in configured if os.path.isfile(p)]
        target = SSHTarget(
            hostname=entry.get("hostname", alias),
            port=port or config_port,
            user=user or entry.get("user") or getpass.getuser(),
            key_filenames=tuple(keys),
            look_for_keys=not identity and not identities_only,
            allow_agent=not identities_only,
            alias=alias,
        )
        kind, value = _proxy(entry, proxy_jump)
        if kind == "command":
            return replace(target, proxy_command=value)
        if kind != "jump":
            return target
        where = "proxy_jump in hosts.toml" if proxy_jump is not None else f"{self.path}: ProxyJump"
        try:
            hops = jump_hops(value)
        except ValueError as exc:
            raise errors.InventoryError(f"{where} for {alias!r}: {exc}; fix that value") from None
        if depth + len(hops) > MAX_HOPS:
            raise errors.InventoryError(
                f"{where} for {alias!r}: the chain of jump hosts is longer than {MAX_HOPS} "
                "(does a jump host's own ProxyJump lead back?); fix the ProxyJump lines"
            )
        # The first hop is reached the way its own config says; later hops through the one
        # before (their own ProxyJump/ProxyCommand do not apply, as with ssh -J).
        hop_user, hop_host, hop_port = hops[0]
        via = self.resolve(hop_host, hop_port, hop_user, depth=depth + 1)
        for hop_user, hop_host, hop_port in hops[1:]:
            via = replace(self.resolve(hop_host, hop_port, hop_user, proxy_jump="none", depth=depth + 1), via=via)
        return replace(target, via=via)


def _proxy(entry: paramiko.SSHConfigDict, override: str | None) -> tuple[str | None, str | None]:
    """("jump", hops), ("command", command) or (None, None) for a direct connection."""
    if override is not None:
        return (None, None) if override.strip().lower() == "none" else ("jump", override)
    # Whichever of the two comes first in the config wins, as in ssh; "none" counts as a value.
    for key, value in entry.items():
        if key in ("proxyjump", "proxycommand"):
            if value is None or value.strip().lower() == "none":
                return None, None
            return ("jump" if key == "proxyjump" else "command"), value
    return None, None
