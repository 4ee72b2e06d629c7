"""The op registry and the core ops (ping, hello, status).

An op is `fn(agent, **args)` registered with `@op("name", arg=type, ...)`: the
keyword types are the only arguments the op accepts, and parameters without a
default are required; the server checks both before calling, so ops never see a
wrong type.

Adding ops: a module `nictest/agent/<concern>_ops.py` that imports `op` from here;
the server imports every `*_ops` module of this package at start (a broken one is
listed by hello, not fatal). State an op keeps between calls belongs to a service
(service.py), reached through the agent: `ports(agent).get(port_id)` for an open
PMD port (nictest.agent.ports).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import pkgutil
import platform
import signal as signals
import socket
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Tuple, Union

from nictest.agent import AGENT_VERSION

log = logging.getLogger("nictest.agent.ops")

ArgType = Union[type, Tuple[type, ...]]


class Op(NamedTuple):
    name: str
    fn: Callable
    arg_types: Dict[str, ArgType]
    required: Tuple[str, ...]


OPS: Dict[str, Op] = {}

OP_MODULE_SUFFIX = "_ops"


def op_modules() -> List[str]:
    """Every `nictest.agent.*_ops` module, in name order: the modules whose import registers ops."""
    import nictest.agent as package

    return sorted(f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
                  if info.name.endswith(OP_MODULE_SUFFIX))


def op(name: str, registry: Dict[str, Op] = OPS, **arg_types: ArgType) -> Callable:
    """Register `fn(agent, **args)` as op `name`, accepting exactly `arg_types`."""

    def register(fn: Callable) -> Callable:
        params = list(inspect.signature(fn).parameters.values())[1:]  # skip `agent`
        names = [p.name for p in params]
        if sorted(names) != sorted(arg_types):
            raise TypeError(f"op {name!r}: parameters {names} do not match declared types {sorted(arg_types)}")
        required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
        if name in registry:
            raise ValueError(f"op {name!r} is registered twice")
        registry[name] = Op(name, fn, dict(arg_types), required)
        return fn

    return register


def load_op_modules() -> Dict[str, str]:
    """Import op_modules(); a module that fails is reported, not fatal (hello lists it)."""
    broken = {}
    for module in op_modules():
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure must not kill the agent
            log.exception("cannot import op module %s", module)
            broken[module] = f"{type(exc).__name__}: {exc}"
    return broken


# What hello checks: (python module, Debian package that provides it).
PYTHON_PREREQUISITES = (("cffi", "python3-cffi"), ("pyudev", "python3-pyudev"))


def missing_prerequisites() -> list:
    missing = []
    if os.geteuid() != 0:
        missing.append('root privileges: run the agent as root or set become = "sudo" in hosts.toml')
    for module, package in PYTHON_PREREQUISITES:
        if importlib.util.find_spec(module) is None:
            missing.append(f"python module {module}: apt-get install {package}")
    return missing


def iommu_enabled():
    """True/False from discovery, None when discovery fails (hello must still answer)."""
    try:
        from nictest import pci
        return bool(pci.iommu_enabled("/"))
    except Exception as exc:  # noqa: BLE001 - reported as unknown; status will raise the real error
        log.warning("cannot tell whether the IOMMU is on: %s", exc)
        return None


def iommu_address_bits():
    """The IOMMU's IOVA width in bits when the host says (Intel VT-d), else None."""
    try:
        from nictest.pci.discovery import iommu_address_bits as read_bits
        return read_bits("/")
    except Exception as exc:  # noqa: BLE001 - unknown; hello must still answer
        log.warning("cannot read the IOMMU's address width: %s", exc)
        return None


@op("ping")
def ping(agent) -> dict:
    return {"pong": True}


@op("heartbeat")
def heartbeat(agent) -> dict:
    """The controller's "still here" while it has nothing else to say; keeps the lease."""
    return {"lease": agent.lease, "armed": agent.lease_armed()}


@op("hello")
def hello(agent) -> dict:
    import nictest

    return {
        "agent_version": AGENT_VERSION,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
        "uid": os.geteuid(),
        "iommu": iommu_enabled(),
        "iommu_address_bits": iommu_address_bits(),
        "missing": missing_prerequisites(),
        "session_ip": agent.session_ip,
        "session_local": agent.session_local,
        "lease": agent.lease,
        "package_dir": os.path.dirname(os.path.abspath(nictest.__file__)),
        "ops": sorted(agent.ops),
        "broken_op_modules": agent.broken_op_modules,
        "executable": sys.executable,
        "pid": os.getpid(),
        "resident": agent.resident,  # one long-lived agent serving many clients (resident.py)
    }


@op("status")
def status(agent) -> dict:
    from nictest import pci  # lazily: discovery is another layer and may fail on its own

    found = pci.discover("/", session_ip=agent.session_ip, session_local=agent.session_local)
    result = {"devices": [device.to_dict() for device in found]}
    if "journal" in agent.ops:  # binding layer loaded: show held, stale and persistent bindings too
        result["journal"] = agent.ops["journal"].fn(agent)
    return result


from nictest.errors import RefusedError  # noqa: E402 - kept beside its only user


@op("signal_agent", pid=int, signal=int)
def signal_agent(agent, pid, signal) -> dict:
    """Send a signal to ANOTHER nictest agent on this host (crash tests); nothing else."""
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        raise RefusedError(f"no process {pid} on this host") from None
    if pid == os.getpid() or b"nictest.agent" not in cmdline:
        raise RefusedError(f"pid {pid} is not another nictest agent: refusing to signal it")
    os.kill(pid, signal)
    gone = signal != signals.SIGKILL or _exited(pid, timeout=KILL_WAIT)
    return {"pid": pid, "signal": signal, "exited": gone}


KILL_WAIT = 10.0  # seconds a SIGKILLed agent may take to exit (a loaded TCG guest)


def _exited(pid: int, timeout: float) -> bool:
    """True once `pid` has exited and released its files, so its locks: gone, or a zombie
    whose other threads are gone too. A multi-threaded process's leader shows "Z" while its
    threads are still being torn down, and the files (the flocks) close with the last
    thread; a crash test reads the journal right after the kill and must see the entry stale."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
            threads = os.listdir(f"/proc/{pid}/task")
        except (OSError, IndexError):
            return True
        done = state in (b"Z", b"X") and all(t == str(pid) for t in threads)
        if done or time.monotonic() >= deadline:
            return done
        time.sleep(0.05)
