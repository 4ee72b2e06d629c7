"""QemuLabHost: an SSH host whose key, host key and port come from the running lab VM."""
from __future__ import annotations

from ..errors import HostUnreachable
from ..lab import LabVM
from .ssh import SSHHost


class QemuLabHost(SSHHost):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.vm = LabVM(spec.lab or spec.name)

    def start(self) -> dict:
        if not self.vm.running():
            raise HostUnreachable(f"lab {self.vm.name} is not running: boot it with "
                                  f"`nictest lab up {self.vm.name}` (pytest --host boots it itself)")
        return super().start()

    @property
    def kernel_rx_pps(self) -> int | None:
        return self.spec.kernel_rx_pps or self.vm.profile.kernel_rx_pps

    def target_port(self) -> int | None:
        return self.spec.port or self.vm.profile.ssh_port

    def identity_file(self) -> str | None:
        return self.spec.identity or str(self.vm.image().identity)

    def known_hosts_file(self) -> str | None:
        return self.spec.known_hosts or str(self.vm.known_hosts)
