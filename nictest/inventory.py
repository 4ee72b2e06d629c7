"""hosts.toml -> HostSpec: which hosts exist, how to reach them, which NICs may be bound.

Controller side only (Python 3.11, tomllib). Every mistake in the file is an
InventoryError naming the file, the key (`hosts.lab1.port`) and what is expected,
so a typo never silently becomes a default. ~/.ssh/config is not read here: the
SSH transport applies it at connect time, so `address` may be a config alias.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from nictest.errors import InventoryError
# The address value type only (no discovery): one grammar for PCI addresses everywhere.
from nictest.pci.address import PciAddress

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "hosts.toml"
ENV_VAR = "NICTEST_INVENTORY"

KINDS = ("local", "ssh", "qemu")
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_CALL_TIMEOUT = 60.0
# Seconds the agent waits, idle and holding a NIC, without hearing from the controller
# before it restores everything (a dead link never shows EOF). Same default as the agent's.
DEFAULT_LEASE = 30.0
LEASE_RANGE = (1.0, 3600.0)  # the agent refuses anything else

# Keys each kind accepts; anything else is a typo and is refused.
_COMMON_KEYS = {"kind", "nics", "links", "become", "call_timeout", "lease", "kernel_rx_pps"}
_SSH_KEYS = {"address", "port", "user", "identity", "known_hosts", "connect_timeout", "proxy_jump"}
_KEYS_BY_KIND = {
    "local": _COMMON_KEYS,
    "ssh": _COMMON_KEYS | _SSH_KEYS,
    "qemu": _COMMON_KEYS | _SSH_KEYS | {"lab"},
}
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class HostSpec:
    """One host under test, as the inventory (or an ssh:// argument) describes it.

    port/user None mean "from ~/.ssh/config, else 22 / the current user".
    proxy_jump None means "as ~/.ssh/config says"; a value replaces its ProxyJump/ProxyCommand
    for this host, as `ssh -J` does ("none": connect directly).
    nics None means no allow-list; an empty tuple means nothing may be bound.
    """

    name: str
    kind: str
    address: str | None = None
    port: int | None = None
    user: str | None = None
    identity: str | None = None
    known_hosts: str | None = None
    become: str | None = None
    nics: tuple[str, ...] | None = None
    links: tuple[tuple[str, str], ...] = ()
    lab: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    lease: float = DEFAULT_LEASE
    proxy_jump: str | None = None
    kernel_rx_pps: int | None = None  # how fast kernel-path receivers may be fed (None: unpaced)

    def may_bind(self, address: str) -> bool:
        """True if the allow-list permits binding the NIC at `address` (normalised)."""
        return self.nics is None or address in self.nics


class Inventory:
    """The hosts of one inventory file, in file order."""

    def __init__(self, path: Path, hosts: dict[str, HostSpec]) -> None:
        self.path = path
        self._hosts = dict(hosts)

    def names(self) -> list[str]:
        return list(self._hosts)

    def get(self, name: str) -> HostSpec:
        try:
            return self._hosts[name]
        except KeyError:
            known = ", ".join(self._hosts) or "(none)"
            raise InventoryError(
                f"{self.path}: unknown host {name!r}; known hosts: {known}. "
                f"Add a [hosts.{name}] table or pass ssh://[user@]address[:port]"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._hosts

    def __repr__(self) -> str:
        return f"Inventory({str(self.path)!r}, {self.names()!r})"


def default_path() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


def load(path: str | os.PathLike[str] | None = None) -> Inventory:
    """Read and validate an inventory file (default: $NICTEST_INVENTORY or ./hosts.toml of the repo)."""
    path = Path(path) if path is not None else default_path()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise InventoryError(
            f"inventory file {path} does not exist; create it or set {ENV_VAR} to its path"
        ) from None
    except OSError as exc:
        raise InventoryError(f"cannot read inventory file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib decodes before it parses
        raise InventoryError(f"{path}: not valid TOML: not UTF-8 ({exc}); save the file as UTF-8") from None
    return Inventory(path, _parse_file(path, data))


def parse_host_arg(text: str, inventory: Inventory) -> HostSpec:
    """`--host` value: an inventory name, or ssh://[user@]address[:port] for an ad-hoc host."""
    if not text.startswith("ssh://"):
        return inventory.get(text)
    try:
        user, address, port = split_ssh_url(text)
    except ValueError as exc:
        raise InventoryError(f"--host {text!r}: {exc}") from None
    return HostSpec(name=text.rstrip("/"), kind="ssh", address=address, port=port, user=user)


def split_ssh_url(text: str) -> tuple[str | None, str, int | None]:
    """(user, address, port) of ssh://[user@]address[:port]; raises ValueError saying what is expected."""
    expected = "expected ssh://[user@]address[:port] and nothing else"
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise ValueError(f"bad ssh:// URL ({exc}); {expected}") from None
    if url.scheme != "ssh" or not url.hostname or url.path not in ("", "/") or url.query or url.fragment \
            or url.password:
        raise ValueError(expected)
    return (unquote(url.username) if url.username else None), url.hostname, port


def jump_hops(text: str) -> tuple[tuple[str | None, str, int | None], ...]:
    """The hops of a ProxyJump value, first to last: `[user@]host[:port]` (or ssh:// URLs), comma-separated.

    () for "none". Raises ValueError saying what is expected.
    """
    if text.strip().lower() == "none":
        return ()
    hops = []
    for item in text.split(","):
        item = item.strip()
        try:
            hops.append(split_ssh_url(item if item.startswith("ssh://") else f"ssh://{item}"))
        except ValueError:
            raise ValueError(f"jump host {item!r} is not [user@]host[:port]") from None
    return tuple(hops)


def _parse_file(path: Path, data: dict) -> dict[str, HostSpec]:
    unknown = set(data) - {"hosts"}
    if unknown:
        raise InventoryError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; expected only [hosts.<name>] tables")
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise InventoryError(f"{path}: key 'hosts' must be a table of [hosts.<name>] tables")
    specs = {}
    for name, table in hosts.items():
        specs[name] = _Table(path, f"hosts.{name}", table).host_spec(name)
    return specs


class _Table:
    """One [hosts.<name>] table; every getter names `<where>.<key>` when it refuses a value."""

    def __init__(self, path: Path, where: str, table: object) -> None:
        self.path, self.where = path, where
        if not isinstance(table, dict):
            self.fail(where, "a table ([" + where + "])")
        self.table = table

    def fail(self, key: str, expected: str, got: object = None) -> None:
        detail = f", got {got!r}" if got is not None else ""
        raise InventoryError(f"{self.path}: {key}: expected {expected}{detail}")

    def host_spec(self, name: str) -> HostSpec:
        if not _HOST_NAME.match(name):
            self.fail(self.where, "a host name of letters, digits, '_', '.', '-'", name)
        kind = self.get("kind", str, "one of " + "|".join(KINDS), required=True)
        if kind not in KINDS:
            self.fail(self.key("kind"), "one of " + "|".join(KINDS), kind)
        unknown = sorted(set(self.table) - _KEYS_BY_KIND[kind])
        if unknown:
            self.fail(self.key(unknown[0]), f"no such key for kind {kind!r}; allowed: {', '.join(sorted(_KEYS_BY_KIND[kind]))}")
        address = self.get("address", str, "a host name or IP address", required=kind == "ssh")
        if kind == "qemu" and address is None:
            address = "127.0.0.1"
        port = self.get("port", int, "an integer port 1-65535")
        if port is not None and not 1 <= port <= 65535:
            self.fail(self.key("port"), "an integer port 1-65535", port)
        become = self.get("become", str, 'become = "sudo" (or no become key)')
        if become not in (None, "sudo"):
            self.fail(self.key("become"), 'become = "sudo" (or no become key)', become)
        nics = self.nics()
        return HostSpec(
            name=name,
            kind=kind,
            address=address,
            port=port,
            user=self.get("user", str, "a user name"),
            identity=self.path_value("identity"),
            known_hosts=self.path_value("known_hosts"),
            become=become,
            nics=nics,
            links=self.links(nics),
            lab=self.lab_value(name, kind),
            connect_timeout=self.seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            call_timeout=self.seconds("call_timeout", DEFAULT_CALL_TIMEOUT),
            lease=self.lease(),
            proxy_jump=self.proxy_jump(),
            kernel_rx_pps=self.positive_int("kernel_rx_pps", "frames per second, a positive integer"),
        )

    def key(self, key: str) -> str:
        return f"{self.where}.{key}"

    def get(self, key: str, kind: type, expected: str, required: bool = False):
        if key not in self.table:
            if required:
                self.fail(self.key(key), expected + " (the key is required)")
            return None
        value = self.table[key]
        # bool is an int in Python; `port = true` is still a mistake.
        if not isinstance(value, kind) or isinstance(value, bool) or value == "":
            self.fail(self.key(key), expected, value)
        return value

    def lab_value(self, name: str, kind: str) -> str | None:
        """A bundled lab's name, or the path of a lab file (relative to the inventory)."""
        value = self.get("lab", str, "a bundled lab name or a lab .toml file")
        if value is not None and value.endswith(".toml"):
            return self.path_value("lab")
        return value or (name if kind == "qemu" else None)

    def path_value(self, key: str) -> str | None:
        value = self.get(key, str, "a file path")
        if value is None:
            return None
        path = Path(value).expanduser()
        # Relative paths are relative to the inventory, not to wherever pytest runs.
        return str(path if path.is_absolute() else self.path.parent / path)

    def seconds(self, key: str, default: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(self.key(key), "a positive number of seconds", value)
        return float(value)

    def positive_int(self, key: str, expected: str) -> int | None:
        value = self.get(key, int, expected)
        if value is not None and value <= 0:
            self.fail(self.key(key), expected, value)
        return value

    def proxy_jump(self) -> str | None:
        expected = 'jump hosts like "admin@bastion:22,inner" ([user@]host[:port], comma-separated) or "none"'
        value = self.get("proxy_jump", str, expected)
        if value is not None:
            try:
                jump_hops(value)
            except ValueError as exc:
                self.fail(self.key("proxy_jump"), f"{expected}; {exc}", value)
        return value

    def lease(self) -> float:
        value = self.seconds("lease", DEFAULT_LEASE)
        low, high = LEASE_RANGE
        if not low <= value <= high:
            self.fail(self.key("lease"), f"{low:g}-{high:g} seconds", value)
        return value

    def nics(self) -> tuple[str, ...] | None:
        if "nics" not in self.table:
            return None
        value = self.table["nics"]
        if not isinstance(value, list):
            self.fail(self.key("nics"), "a list of PCI addresses like \"0000:3b:00.0\"", value)
        nics = tuple(self.pci(f"nics[{i}]", item) for i, item in enumerate(value))
        if len(set(nics)) != len(nics):
            self.fail(self.key("nics"), "each PCI address at most once", value)
        return nics

    def links(self, nics: tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
        value = self.table.get("links", [])
        expected = 'a list of [a, b] PCI address pairs, e.g. [["0000:00:03.0", "0000:00:04.0"]]'
        if not isinstance(value, list):
            self.fail(self.key("links"), expected, value)
        links = []
        for i, pair in enumerate(value):
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail(self.key(f"links[{i}]"), expected, pair)
            a, b = (self.pci(f"links[{i}][{j}]", item) for j, item in enumerate(pair))
            if a == b:
                self.fail(self.key(f"links[{i}]"), "two different NICs (a NIC is not cabled to itself)", pair)
            for end in (a, b):
                if nics is not None and end not in nics:
                    self.fail(self.key(f"links[{i}]"), f"NICs listed in {self.key('nics')}; {end} is not", pair)
            links.append((a, b))
        return tuple(links)

    def pci(self, key: str, value: object) -> str:
        expected = 'a PCI address DDDD:BB:DD.F like "0000:3b:00.0"'
        if not isinstance(value, str):
            self.fail(self.key(key), expected, value)
        normalised = normalise_pci(value)
        if normalised is None:
            self.fail(self.key(key), expected, value)
        return normalised


def normalise_pci(text: str) -> str | None:
    """`0000:3b:00.0` form of a PCI address, or None if it is not one."""
    try:
        return str(PciAddress.parse(text))
    except ValueError:  # PciAddressError is a ValueError
        return None
