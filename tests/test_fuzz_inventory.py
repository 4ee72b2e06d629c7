"""Fuzz hosts.toml parsing and `--host ssh://...` specs: a HostSpec or an InventoryError, nothing else."""
from __future__ import annotations

import json
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from nictest import inventory
from nictest.errors import InventoryError

BUDGET = settings(max_examples=200, derandomize=True, deadline=None)

KEYS = ["kind", "address", "port", "user", "identity", "known_hosts", "become", "nics", "links", "lab",
        "connect_timeout", "call_timeout", "bogus"]
scalars = st.one_of(st.text(max_size=20), st.integers(-5, 70000), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.sampled_from(["ssh", "qemu", "local", "sudo", "0000:00:03.0", "3b:00.0", "nope"]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.lists(st.lists(scalars, max_size=3), max_size=2))
tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
documents = st.dictionaries(st.text("abcXYZ09_.-é ", min_size=1, max_size=8), tables, max_size=3)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def render(doc: dict) -> str:
    lines = []
    for name, table in doc.items():
        lines.append(f"[hosts.{json.dumps(name)}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def load_text(data: bytes):
    fd, path = tempfile.mkstemp(suffix=".toml")
    try:
        os.write(fd, data)
        os.close(fd)
        return inventory.load(path)
    finally:
        os.unlink(path)


def check_spec(spec) -> None:
    assert spec.kind in ("ssh", "qemu", "local")
    assert spec.port is None or 1 <= spec.port <= 65535
    for nic in spec.nics or ():
        assert inventory.normalise_pci(nic) == nic


@BUDGET
@given(documents)
def test_structured_inventories_load_or_fail_typed(doc):
    try:
        inv = load_text(render(doc).encode())
    except InventoryError as exc:
        assert "expected" in str(exc) or "unknown" in str(exc) or "TOML" in str(exc), str(exc)
        return
    for name in inv.names():
        check_spec(inv.get(name))


@BUDGET
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_bytes_load_or_fail_typed(data):
    try:
        inv = load_text(data)
    except InventoryError:
        return
    for name in inv.names():
        check_spec(inv.get(name))


EMPTY = inventory.Inventory(inventory.default_path(), {})
url_chars = st.text("abc019:@[]/%?#.-_ :\u00e9\x00", max_size=30)


@BUDGET
@given(url_chars)
def test_ssh_host_specs_parse_or_fail_typed(rest):
    try:
        spec = inventory.parse_host_arg("ssh://" + rest, EMPTY)
    except InventoryError as exc:
        assert "ssh://" in str(exc)
        return
    assert spec.kind == "ssh" and spec.address
    assert spec.port is None or 0 <= spec.port <= 65535


@BUDGET
@given(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True),
       st.one_of(st.none(), st.integers(1, 65535)))
def test_well_formed_ssh_specs_keep_user_host_and_port(user, address, port):
    text = f"ssh://{user}@{address}" + (f":{port}" if port else "")
    spec = inventory.parse_host_arg(text, EMPTY)
    assert (spec.user, spec.address, spec.port) == (user, address, port)
