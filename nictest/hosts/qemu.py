"""QemuLabHost: an SSH host whose key, host key and port come from the running lab VM."""
from __future__ import annotations

from ..errors import HostUnreachable, LabError, PrerequisiteMissing
from ..lab import LabVM
from .ssh import SSHHost


class QemuLabHost(SSHHost):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.vm = LabVM(spec.lab or spec.name)

    def start(self) -> dict:
        self.check_up()
        return super().start()

    def check_up(self) -> None:
        if not self.vm.running():
            raise HostUnreachable(f"lab {self.vm.name} is not running: boot it with "
                                  f"`nictest lab up {self.vm.name}` (pytest --host boots it itself)")

    @property
    def kernel_rx_pps(self) -> int | None:
        return self.spec.kernel_rx_pps or self.vm.profile.kernel_rx_pps

    def target_port(self) -> int | None:
        return self.spec.port or self.vm.profile.ssh_port

    def identity_file(self) -> str | None:
        return self.spec.identity or str(self.vm.image().identity)

    def known_hosts_file(self) -> str | None:
        return self.spec.known_hosts or str(self.vm.known_hosts)

    # --- links driven from outside: QEMU's monitor `set_link` on the NIC's cable -----
    def _lab_nic(self, address: str):
        return next((n for n in self.vm.profile.nics if n.guest_address == address), None)

    def link_control_reason(self, address: str) -> str | None:
        if self._lab_nic(address) is None:
            return f"{address} is not a NIC of lab {self.vm.name} (its NICs: {', '.join(self.vm.profile.nic_addresses)})"
        if not self.vm.running():
            return f"lab {self.vm.name} is not running"
        return None

    def set_link(self, address: str, up: bool) -> None:
        """`set_link <netdev> on|off` on the hub port the NIC is plugged into: QEMU tells the NIC
        model its link changed (as a pulled or re-plugged cable would)."""
        reason = self.link_control_reason(address)
        if reason:
            raise PrerequisiteMissing(f"cannot drive links from outside: {reason}")
        netdev = self.vm.profile.netdev_of(self._lab_nic(address))
        answer = self.vm.monitor(f"set_link {netdev} {'on' if up else 'off'}")
        if "rror" in answer or "not found" in answer:
            raise LabError(f"lab {self.vm.name}: set_link {netdev} {'on' if up else 'off'}: {answer.strip()!r}")
