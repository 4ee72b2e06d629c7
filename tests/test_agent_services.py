"""The agent's services: shutdown order, the job runner, and every port/device op after close.

The after-close test runs the real agent entry point as a subprocess over pipes, with a
fake PMD whose DMA memory is a real anonymous mapping that close() unmaps: an op that
still read a closed port's memory (iso_canary_check did) would kill the agent with
SIGSEGV instead of answering StateError.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import nictest
from nictest import errors
from nictest.agent import ops as agent_ops
from nictest.agent.jobs import Jobs
from nictest.agent.ports import ports
from nictest.agent.server import Agent
from nictest.agent.service import Service

REPO = Path(nictest.__file__).resolve().parent.parent

# Argument names through which an op takes an open handle.
HANDLE_ARGS = {"port", "port_a", "port_b", "tx_port", "rx_port", "device"}

FAKE_PMD_AGENT = textwrap.dedent("""
    import ctypes, sys
    import cffi
    import nictest.pmd
    from nictest.agent.__main__ import main

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    DMA_SIZE = 1 << 20

    class FakePort:
        ffi = cffi.FFI()

        def __init__(self, address, backend="vfio", rx_ring=512, tx_ring=512, iova_base=0):
            self.address = address
            self.virt = libc.mmap(None, DMA_SIZE, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
            self.used = 0

        def info(self):
            return {"address": self.address, "dma_bus_base": 0x100000, "dma_size": DMA_SIZE}

        def register_dump(self):
            return []

        def dma_alloc(self, size):
            offset, self.used = self.used, self.used + size
            ptr = self.ffi.cast("char *", self.virt + offset)
            return {"bus": 0x100000 + offset, "offset": offset, "size": size, "buffer": self.ffi.buffer(ptr, size)}

        def close(self):
            libc.munmap(self.virt, DMA_SIZE)  # what the real PMD does: the memory is gone

        def request_eventfd(self, eventfd):
            pass  # the removal watch's channel: nothing here signals it

    class FakeDevice:
        def __init__(self, address, backend="vfio", vf_token=""):
            self.address = address

        def info(self):
            return {"address": self.address, "bar": 0}

        def close(self):
            pass

        def request_eventfd(self, eventfd):
            pass

    nictest.pmd.Port, nictest.pmd.Device = FakePort, FakeDevice
    sys.exit(main(sys.argv[1:]))
""")


class AgentProcess:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-c", FAKE_PMD_AGENT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.next_id = 0

    def call(self, op: str, **args) -> dict:
        self.next_id += 1
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, "args": args}).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the agent died answering {op}: status {self.proc.wait(10)}, stderr {self.proc.stderr.read()[-2000:]!r}"
        return json.loads(line)

    def result(self, op: str, **args):
        reply = self.call(op, **args)
        assert reply["ok"], reply
        return reply["result"]


def handle_args(entry: agent_ops.Op) -> set:
    """The parameters of `entry` that name an open handle (an int id; pmd_model_for's `device` is a PCI ID)."""
    return {name for name in HANDLE_ARGS & set(entry.arg_types) if entry.arg_types[name] is int}


def args_after_close(entry: agent_ops.Op, handle: int, bus: int) -> dict:
    """Every parameter of `entry` filled in (required or not), its handle arguments naming `handle`."""
    args = {}
    for name, kind in entry.arg_types.items():
        types = kind if isinstance(kind, tuple) else (kind,)
        if name in handle_args(entry):
            args[name] = handle
        elif name == "bus":
            args[name] = bus
        elif str in types:
            args[name] = "map" if name == "action" else "x"
        elif int in types:
            args[name] = 64
        elif float in types:
            args[name] = 1.0
        elif bool in types:
            args[name] = False
        elif list in types:
            args[name] = []
        else:
            args[name] = None
    return args


def test_every_port_and_device_op_after_close_is_a_state_error_and_the_agent_lives():
    agent = AgentProcess()
    try:
        hello = agent.result("hello")
        assert hello["broken_op_modules"] == {}, hello["broken_op_modules"]
        agent_ops.load_op_modules()  # this process's registry: the same modules the agent loaded
        registry = {name: agent_ops.OPS[name] for name in hello["ops"]}
        handle_ops = sorted(name for name, entry in registry.items() if handle_args(entry))
        # The ops that read memory or registers of a port must be among them (the crash was one).
        assert {"iso_canary_check", "iso_canary", "pmd_dma_buffers", "pmd_tx", "pmd_rx_wait",
                "pmd_device_config", "bench_pmd_to_kernel"} <= set(handle_ops)

        port = agent.result("pmd_open", address="0000:00:03.0")["port"]
        canary = agent.result("iso_canary", port=port, size=4096)
        assert agent.result("iso_canary_check", port=port, bus=canary["bus"])["changed_bytes"] == 0
        device = agent.result("pmd_device_open", address="0000:00:04.0")["device_handle"]
        assert agent.result("pmd_close", port=port)["closed"] is True
        assert agent.result("pmd_device_close", device=device)["closed"] is True

        for name in handle_ops:
            handle = device if "device" in handle_args(registry[name]) else port
            reply = agent.call(name, **args_after_close(registry[name], handle, canary["bus"]))
            if name == "pmd_close":  # closing twice is not an error: it says so
                assert reply["ok"] and reply["result"]["closed"] is False, reply
            else:
                assert not reply["ok"] and reply["error"]["type"] == "StateError", (name, reply)
        assert agent.result("ping") == {"pong": True}
        agent.proc.stdin.close()
        assert agent.proc.wait(timeout=20) == 0
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
        agent.proc.wait()


# --- in-process: the order of shutdown and the job runner ----------------------------

class Recorder(Service):
    events: list = []

    def close(self) -> None:
        Recorder.events.append(type(self).__name__)


class Early(Recorder):
    close_order = 10


class Late(Recorder):
    close_order = 90


def test_services_close_in_their_order_with_plain_hooks_between():
    Recorder.events = []
    agent = Agent(ops={})
    agent.service(Late)
    agent.on_shutdown(lambda: Recorder.events.append("hook"))
    agent.service(Early)
    assert agent.service(Early) is agent.service(Early)  # one per agent
    agent.run_shutdown_hooks()
    assert Recorder.events == ["Early", "hook", "Late"]


def test_a_job_is_collected_once_and_its_error_comes_back():
    jobs = Jobs(None)
    release = threading.Event()
    jobs.start("k", lambda: release.wait(5) and 42, limit_s=10, busy="busy")
    with pytest.raises(errors.StateError, match="busy"):
        jobs.start("k", lambda: 0, limit_s=1, busy="busy")
    with pytest.raises(errors.StateError, match="still"):
        jobs.collect("k", 0.05, missing="none", still_running="still")  # kept for a later collect
    release.set()
    assert jobs.collect("k", 5, missing="none", still_running="still") == 42
    with pytest.raises(errors.StateError, match="none"):
        jobs.collect("k", 5, missing="none", still_running="still")

    def fails():
        raise TimeoutError("the job's own timeout")  # not to be read as "still running"

    jobs.start("t", fails, limit_s=5, busy="busy")
    with pytest.raises(TimeoutError, match="own timeout"):
        jobs.collect("t", 5, missing="none", still_running="still")


class SlowPort:
    def __init__(self, address, **_) -> None:
        self.address, self.closed_at, self.rx_done_at = address, None, None

    def info(self):
        return {"address": self.address}

    def register_dump(self):
        return []

    def rx(self, count, timeout_ms=0, expect_seq=0):
        time.sleep(0.3)
        self.rx_done_at = time.monotonic()
        return {"packets": 0}

    def close(self):
        self.closed_at = time.monotonic()

    def request_eventfd(self, eventfd):
        pass


def test_closing_a_port_waits_for_its_background_receive(monkeypatch):
    import nictest.pmd
    from nictest.agent import pmd_ops  # noqa: F401 - registers the pmd ops

    monkeypatch.setattr(nictest.pmd, "Port", SlowPort)
    agent = Agent(ops=agent_ops.OPS)
    port = agent.dispatch({"id": 1, "op": "pmd_open", "args": {"address": "0000:00:03.0"}})["port"]
    handle = ports(agent).get(port)
    agent.dispatch({"id": 2, "op": "pmd_rx_start", "args": {"port": port, "count": 1, "timeout_ms": 300}})
    assert agent.dispatch({"id": 3, "op": "pmd_close", "args": {"port": port}})["closed"] is True
    assert handle.rx_done_at is not None and handle.closed_at >= handle.rx_done_at
    assert not agent.lease_armed()


def test_op_modules_are_found_by_name():
    modules = agent_ops.op_modules()
    assert "nictest.agent.pmd_ops" in modules and "nictest.agent.binding_ops" in modules
    assert all(m.endswith("_ops") for m in modules) and "nictest.agent.ops" not in modules


def test_a_netdev_left_in_a_netns_comes_back_at_shutdown(monkeypatch):
    from nictest.agent import netns

    calls, where = [], {"enp0s4": "root"}

    def ip(*argv, check=True, timeout=15):
        calls.append(argv)
        if argv[:3] == ("link", "set", "dev") and argv[4] == "netns":
            where[argv[3]] = argv[5]
        elif argv[:2] == ("-n", "ns") and argv[-2:] == ("netns", "1"):
            where[argv[5]] = "root"

    monkeypatch.setattr(netns, "ip", ip)
    monkeypatch.setattr(netns, "link_flags", lambda ifname, ns="": ["UP"])
    monkeypatch.setattr(netns, "ip_json", lambda *argv: [{"ifname": n} for n, w in where.items() if w == "root"])
    agent = Agent(ops={})
    assert netns.namespaces(agent).move_in("enp0s4", "ns") is True and where["enp0s4"] == "ns"
    assert agent.lease_armed()  # a netdev away from the root namespace is something the agent holds
    agent.run_shutdown_hooks()  # the op that moves it back never came (controller gone)
    assert where["enp0s4"] == "root" and ("netns", "del", "ns") in calls
    assert ("link", "set", "dev", "enp0s4", "up") in calls  # its admin state as it was
    assert not agent.lease_armed()
