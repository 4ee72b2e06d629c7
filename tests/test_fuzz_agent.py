"""Fuzz the agent protocol against the real agent process over pipes.

Malformed JSON, arbitrary JSON values, unknown ops, wrong argument types, huge
lines, and binds of devices outside the session's allow-list: every line gets one
reply with a typed nictest error (never AgentError, which means an unclassified
exception), and the agent still answers a ping after each. The agent runs on a
synthetic sysfs tree with its own journal and lock directories, so nothing on
this machine can be touched; wrong-type requests never reach an op.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nictest
from nictest import errors
from nictest.agent import ops as agent_ops
from nictest.agent.server import MAX_LINE
from tests.fakesysfs import build_lab_host

REPO = Path(nictest.__file__).resolve().parent.parent
ALLOWED = "0000:00:03.0"
agent_ops.load_op_modules()  # the full op list, as the agent has it
BUDGET = settings(max_examples=150, derandomize=True, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


class AgentProcess:
    def __init__(self, root: Path) -> None:
        env = dict(os.environ, NICTEST_SYSFS_ROOT=str(root / "sys-root"), NICTEST_JOURNAL_DIR=str(root / "journal"),
                   NICTEST_LOCK_DIR=str(root / "locks"), NICTEST_AGENT_LOG="ERROR",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "nictest.agent"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    def send(self, line: bytes) -> dict:
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, "the agent closed its output"
        return json.loads(reply)

    def request(self, id_, op, **args) -> dict:
        return self.send(json.dumps({"id": id_, "op": op, "args": args}).encode())

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(30)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-agent")
    build_lab_host(root / "sys-root")
    process = AgentProcess(root)
    assert process.request(1, "session", allowed=[ALLOWED], controller="fuzz")["ok"]
    yield process
    assert process.close() == 0
    assert not list((root / "journal").glob("*.json")), "a fuzzed request left a journal entry"


def assert_typed_error(reply: dict) -> None:
    assert reply.get("ok") is False, f"accepted: {reply}"
    kind = reply["error"]["type"]
    assert kind != "AgentError", f"unclassified exception in the agent: {reply['error']}"
    assert issubclass(errors.by_name(kind), errors.NictestError) and errors.by_name(kind).__name__ == kind, reply
    assert reply["error"]["message"]


def still_serving(agent: AgentProcess) -> None:
    assert agent.request(999_999, "ping") == {"id": 999_999, "ok": True, "result": {"pong": True}}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)


@BUDGET
@given(st.binary(max_size=300).filter(lambda b: b"\n" not in b and b.strip()))
def test_malformed_bytes(agent, line):
    try:
        json.loads(line)
        return  # valid JSON by chance: covered by the next test
    except ValueError:
        pass
    reply = agent.send(line)
    assert reply["id"] is None
    assert_typed_error(reply)
    still_serving(agent)


@BUDGET
@given(json_values)
def test_arbitrary_json_values(agent, value):
    if isinstance(value, dict) and isinstance(value.get("op"), str) and value["op"] in agent_ops.OPS:
        return  # only unknown ops here: a known op with a valid args object could do something
    reply = agent.send(json.dumps(value).encode())
    assert_typed_error(reply)
    still_serving(agent)


KNOWN = {"ping", "hello", "status"}


@BUDGET
@given(st.text(min_size=1, max_size=30), st.dictionaries(st.text(max_size=8), json_values, max_size=3))
def test_unknown_ops(agent, name, args):
    if name in agent_ops.OPS or name in KNOWN:
        return
    reply = agent.request(7, name, **args)
    assert reply["id"] == 7 and "unknown op" in reply["error"]["message"]
    assert_typed_error(reply)
    still_serving(agent)


def wrong_for(types) -> st.SearchStrategy:
    types = types if isinstance(types, tuple) else (types,)

    def rejected(value) -> bool:
        return not isinstance(value, types) or (isinstance(value, bool) and bool not in types)

    return json_values.filter(rejected)


@st.composite
def wrongly_typed_requests(draw):
    candidates = sorted(name for name, entry in agent_ops.OPS.items() if entry.arg_types)
    name = draw(st.sampled_from(candidates))
    entry = agent_ops.OPS[name]
    bad = draw(st.sampled_from(sorted(entry.arg_types)))
    return name, bad, {bad: draw(wrong_for(entry.arg_types[bad]))}


@BUDGET
@given(wrongly_typed_requests())
def test_wrong_argument_types(agent, case):
    name, bad, args = case
    reply = agent.request(8, name, **args)
    assert reply["id"] == 8 and reply["error"]["type"] == "ProtocolError", reply
    assert bad in reply["error"]["message"] or "missing argument" in reply["error"]["message"]
    still_serving(agent)


@settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(MAX_LINE - 64, MAX_LINE + 4096))
def test_huge_lines(agent, size):
    head = b'{"id": 9, "op": "ping", "args": {"pad": "'
    line = head + b"x" * max(0, size - len(head) - 3) + b'"}}'
    reply = agent.send(line)
    assert_typed_error(reply)
    assert reply["error"]["type"] == "ProtocolError"
    still_serving(agent)


addresses = st.builds(lambda d, b, dev, f: f"{d:04x}:{b:02x}:{dev:02x}.{f:x}", st.integers(0, 0xFFFF),
                      st.integers(0, 0xFF), st.integers(0, 0x1F), st.integers(0, 7))


@BUDGET
@given(st.one_of(addresses, st.sampled_from(["0000:00:02.0", "0000:00:04.0", "0000:00:00.0"]), st.text(max_size=15)),
       st.sampled_from(["bind", "restore", "device_nodes"]))
def test_devices_outside_the_allow_list(agent, address, op):
    if address.strip().lower() in (ALLOWED, "00:03.0"):
        return
    args = {"address": address}
    if op == "bind":
        args["driver"] = "uio_pci_generic"  # never vfio: its pre-check may modprobe vfio on this machine
    reply = agent.request(10, op, **args)
    if op == "device_nodes" and reply["ok"]:
        assert reply["result"]["nodes"] == []  # read-only: an answer about nothing is fine
    elif op == "restore" and reply["ok"]:
        # restore only replays the journal (the safe direction): without an entry it touches nothing
        assert reply["result"]["restored"] is False and "no journal entry" in reply["result"]["reason"], reply
    else:
        assert_typed_error(reply)
        assert reply["error"]["type"] in ("RefusedError", "PciAddressError", "DeviceNotFound", "DeviceHeld",
                                          "BindError"), reply
        if op == "bind" and reply["error"]["type"] == "RefusedError":
            assert "allow-list" in reply["error"]["message"] or "not a network" in reply["error"]["message"] \
                or "SSH session" in reply["error"]["message"], reply
    still_serving(agent)
