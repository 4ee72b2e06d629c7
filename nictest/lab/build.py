"""Build the lab guest image from Debian packages, cached by recipe and kernel.

Stages (LAB.md): debootstrap a minbase root with the kernel and what the agent
and the C driver need → configure it → take vmlinuz/initrd out → mkfs.ext4 -d.
Each boot later runs on its own sparse copy of root.img.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError, PrerequisiteMissing
from . import guest_files, mirror, paths
from .progress import Progress

IMAGE_SIZE = "3G"
HOST_TOOLS = {  # command -> Debian package that provides it
    "debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs", "ssh-keygen": "openssh-client",
    "qemu-system-x86_64": "qemu-system-x86", "zstd": "zstd",
}


@dataclass(frozen=True)
class Image:
    dir: Path

    @property
    def kernel(self) -> Path: return self.dir / "vmlinuz"
    @property
    def initrd(self) -> Path: return self.dir / "initrd.img"
    @property
    def disk(self) -> Path: return self.dir / "root.img"
    @property
    def identity(self) -> Path: return self.dir / "id_ed25519"
    @property
    def host_key(self) -> Path: return self.dir / "ssh_host_ed25519_key.pub"
    @property
    def meta(self) -> Path: return self.dir / "meta.json"

    def complete(self) -> bool:
        return self.meta.exists()


def recipe_hash() -> str:
    """Hash of everything that shapes the image, so a changed recipe rebuilds."""
    digest = hashlib.sha256()
    for module in (__file__, guest_files.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:12]


VARIANTS = ("main", "bench")


def image_key(variant: str = "main") -> str:
    suffix = "" if variant == "main" else f"-{variant}"
    return f"{mirror.kernel_version()}-{recipe_hash()}{suffix}".replace("/", "_")


def current_image(variant: str = "main") -> Image:
    if variant not in VARIANTS:
        raise LabError(f"no lab image variant {variant!r}; variants: {', '.join(VARIANTS)}")
    return Image(paths.images_dir() / image_key(variant))


def check_host_tools() -> None:
    missing = sorted({pkg for cmd, pkg in HOST_TOOLS.items() if shutil.which(cmd) is None})
    if missing:
        raise PrerequisiteMissing(
            f"building the lab needs {', '.join(missing)}: apt-get install -y {' '.join(missing)}")
    if os.geteuid() != 0:
        raise PrerequisiteMissing("building the lab image runs debootstrap: run it as root")


def _run(argv, progress: Progress, stage: str, log: Path, **kw) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise LabError(f"lab build failed at {stage} ({argv[0]} exited {result.returncode}); "
                       f"full log: {log}\n" + "\n".join(tail))


def build(force: bool = False, say: Progress | None = None, variant: str = "main") -> Image:
    """Build the image for the current recipe unless it is cached already."""
    progress = say or Progress("lab build")
    image = current_image(variant)
    paths.images_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.images_dir() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions build once
        if image.complete() and not force:
            progress.say("cache", f"image {image.dir.name} is cached")
            return image
        check_host_tools()
        _build_into(image, progress, variant)
    return image


def _install_bench_packages(rootfs: Path, progress: Progress, log: Path) -> None:
    """apt-get install the bench peers into the root (chroot: no host device is touched;
    policy-rc.d keeps every service from starting during the install)."""
    progress.say("bench", f"apt-get install {' '.join(guest_files.BENCH_PACKAGES)} in the root "
                          "(DPDK and its dependencies: a few minutes)")
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    resolv = rootfs / "etc/resolv.conf"
    if Path("/etc/resolv.conf").exists():
        resolv.unlink(missing_ok=True)
        shutil.copy("/etc/resolv.conf", resolv)  # the build machine's resolver reaches the mirror
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    try:
        _run(["chroot", str(rootfs), "apt-get", "update"], progress, "bench apt-get update", log, env=env)
        _run(["chroot", str(rootfs), "apt-get", "install", "-y", "--no-install-recommends",
              *guest_files.BENCH_PACKAGES], progress, "bench apt-get install", log, env=env)
    finally:
        policy.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    if not (rootfs / "usr/bin/dpdk-testpmd").exists() or not (rootfs / "usr/bin/dpdk-devbind.py").exists():
        raise LabError(f"the bench image has no dpdk-testpmd or dpdk-devbind.py after the install; see {log}")


def _build_into(image: Image, progress: Progress, variant: str = "main") -> None:
    work = image.dir.with_name(image.dir.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(image.dir, ignore_errors=True)
    rootfs = work / "rootfs"
    work.mkdir(parents=True)
    log = work / "build.log"
    source = mirror.debian_mirror()

    progress.say("rootfs", f"debootstrap {mirror.SUITE} minbase with {len(guest_files.PACKAGES)} "
                           "packages (about a minute or two)")
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(guest_files.PACKAGES),
          mirror.SUITE, str(rootfs), source], progress, "debootstrap", log)
    if variant == "bench":
        _install_bench_packages(rootfs, progress, log)

    progress.say("configure", "network, sshd, keys, masked timers")
    for rel, text in guest_files.FILES.items():
        target = rootfs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _run(["systemctl", "--root", str(rootfs), "enable", *guest_files.ENABLE], progress, "enable", log)
    _run(["systemctl", "--root", str(rootfs), "mask", *guest_files.MASK], progress, "mask", log)
    work_key = work / "id_ed25519"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nictest-lab", "-f", str(work_key)],
         progress, "ssh-keygen", log)
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(work_key.with_suffix(".pub"), ssh_dir / "authorized_keys")
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    # A fresh host key per build; the controller pins it in known_hosts.
    for old in (rootfs / "etc/ssh").glob("ssh_host_*"):
        old.unlink()
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nictest-lab-host",
          "-f", str(rootfs / "etc/ssh/ssh_host_ed25519_key")], progress, "host key", log)
    (rootfs / "etc/machine-id").write_text("")  # systemd makes a new one per boot

    progress.say("kernel", "taking vmlinuz and initrd out of the root")
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise LabError(f"the guest root has no kernel or initrd under /boot; see {log}")
    shutil.copy(kernels[-1], work / "vmlinuz")
    shutil.copy(initrds[-1], work / "initrd.img")
    shutil.copy(rootfs / "etc/ssh/ssh_host_ed25519_key.pub", work / "ssh_host_ed25519_key.pub")
    # Drop package caches: smaller image, nothing the guest needs.
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)

    progress.say("image", f"mkfs.ext4 -d into a {IMAGE_SIZE} sparse root.img")
    _run(["mkfs.ext4", "-q", "-F", "-L", "nictest-root", "-d", str(rootfs),
          str(work / "root.img"), IMAGE_SIZE], progress, "mkfs.ext4", log)
    shutil.rmtree(rootfs)

    meta = {"kernel_release": kernels[-1].name[len("vmlinuz-"):],
            "kernel_package": mirror.kernel_version(), "recipe": recipe_hash(),
            "suite": mirror.SUITE, "variant": variant}
    (work / "meta.json").write_text(json.dumps(meta, indent=2))  # written last: marks complete
    work.rename(image.dir)
    progress.say("done", f"image {image.dir.name} (kernel {meta['kernel_release']})")
