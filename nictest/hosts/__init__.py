"""Controller side: reach a host's agent. `connect(spec)` picks the transport for the spec's kind."""
from __future__ import annotations

from nictest.errors import InventoryError
from nictest.hosts.base import Host
from nictest.inventory import HostSpec

__all__ = ["Host", "connect"]


def connect(spec: HostSpec, resident: bool = False) -> Host:
    """A started Host (agent running, hello checked) for `spec`; close() it when done.

    resident: an SSH host's calls go to its long-lived resident agent (hosts/ssh.py), which
    saves a Python start per connection; for one-shot CLI calls. A session keeps its own agent."""
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
