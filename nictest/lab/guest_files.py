"""Files written into the guest's root file system at build time."""
from __future__ import annotations

HOSTNAME = "nictest-lab"

# Only the virtio management NIC is configured; the NICs under test stay
# unconfigured so the suites find them exactly as a kernel driver leaves them.
FILES = {
    "etc/hostname": f"{HOSTNAME}\n",
    "etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n",
    "etc/fstab": "/dev/vda / ext4 rw,relatime 0 1\n",
    "etc/systemd/network/10-mgmt.network":
        "[Match]\nDriver=virtio_net\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\n",
    "etc/ssh/sshd_config.d/nictest.conf":
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUseDNS no\n",
    "etc/systemd/journald.conf.d/nictest.conf": "[Journal]\nStorage=volatile\n",
    # Interfaces brought up by the suites must not chatter on the cabled pair
    # (router solicitations would land in the PMD's RX ring).
    "etc/sysctl.d/50-nictest.conf":
        "net.ipv6.conf.default.accept_ra = 0\nnet.ipv6.conf.default.router_solicitations = 0\n"
        "kernel.printk_ratelimit = 0\n",
}

ENABLE = ["systemd-networkd.service", "ssh.service"]
# Timers and waits that only slow an emulated boot down.
MASK = ["apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
        "fstrim.timer", "systemd-networkd-wait-online.service"]

PACKAGES = [
    "linux-image-amd64", "initramfs-tools", "zstd",
    "systemd-sysv", "udev", "kmod", "procps", "iproute2", "iputils-ping", "pciutils",
    "ethtool", "openssh-server", "python3", "python3-cffi", "python3-pyudev",
    # debootstrap does not resolve virtual packages: python3-ply provides
    # the python3-ply-lex-3.10 that python3-pycparser (for cffi) depends on.
    "python3-ply",
    "python3-dev", "gcc", "libc6-dev",
]
# The bench image adds the peers `nictest bench --peers` compares with: DPDK's testpmd
# (in dpdk-dev on Debian 12) and dpdk-devbind.py (in dpdk), installed by apt in the
# root after debootstrap (apt resolves their ~300 dependencies; debootstrap cannot).
BENCH_PACKAGES = ["dpdk", "dpdk-dev"]
