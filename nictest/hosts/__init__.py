"""Controller side: reach a host's agent. `connect(spec)` picks the transport for the spec's kind."""
from __future__ import annotations

import logging

from nictest import errors
from nictest.errors import InventoryError
from nictest.hosts.base import Host
from nictest.inventory import HostSpec

__all__ = ["Host", "connect"]

log = logging.getLogger("nictest.hosts")


def connect(spec: HostSpec, resident: bool = False, kept: bool = False) -> Host:
    """A started Host (agent running, hello checked) for `spec`; close() it when done.

    resident: an SSH host's calls go to its long-lived resident agent (hosts/ssh.py), which
    saves a Python start per connection; for one-shot CLI calls. A session keeps its own agent.
    kept (with resident): through the controller's kept SSH connection to the host (mux.py),
    started by the first such call, which saves the handshake of every later one."""
    if resident and kept and spec.kind in ("ssh", "qemu"):
        host = _through_keeper(spec)
        if host is not None:
            return host
    if spec.kind == "local":
        from nictest.hosts.local import LocalHost as cls
    elif spec.kind == "ssh":
        from nictest.hosts.ssh import SSHHost as cls
    elif spec.kind == "qemu":
        from nictest.hosts.qemu import QemuLabHost as cls  # written with the lab; subclasses SSHHost
    else:
        raise InventoryError(f"host {spec.name}: unknown kind {spec.kind!r}; expected local, ssh or qemu")
    host = cls(spec)
    if resident and hasattr(host, "resident"):
        host.resident = True
    try:
        host.start()
    except BaseException:
        host.close()
        raise
    return host


def _through_keeper(spec: HostSpec) -> Host | None:
    """A started MuxHost, or None when keeping is off or the keeper cannot reach the resident
    agent (the caller connects directly, which falls back to a per-call agent)."""
    from nictest.hosts import mux

    if mux.persist_seconds() == 0:
        return None
    try:
        host = mux.MuxHost(spec)
    except (OSError, errors.PrerequisiteMissing) as exc:  # no private directory for its socket
        log.warning("%s: no kept connection (%s); connecting directly", spec.name, exc)
        return None
    try:
        host.start()
    except mux.MuxUnavailable as exc:
        host.close()
        log.info("%s: %s; connecting directly", spec.name, exc)
        return None
    except BaseException:
        host.close()
        raise
    return host
