"""`nictest lab build|up|down|status [lab1|lab2]`: the bundled QEMU lab hosts."""
from __future__ import annotations

import json

from .. import lab


def add_parser(sub) -> None:
    parser = sub.add_parser("lab", help="build, boot, stop the bundled QEMU lab hosts")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("build", "build (or reuse) the guest image"),
                       ("up", "boot the lab and wait for SSH and the agent"),
                       ("down", "stop the lab's QEMU"), ("status", "show whether it runs")):
        action = actions.add_parser(name, help=text)
        action.add_argument("labs", nargs="*", metavar="LAB", help="lab1, lab2 (default: all)")
        if name == "build":
            action.add_argument("--force", action="store_true", help="rebuild even if cached")
        action.set_defaults(run=globals()[f"run_{name}"])


def _names(args) -> list:
    return args.labs or sorted(lab.PROFILES)


def run_build(args) -> int:
    image = lab.build_image(force=args.force)
    print(image.dir)
    return 0


def run_up(args) -> int:
    from .. import hosts, inventory
    inv = inventory.load(args.inventory)
    for name in _names(args):
        vm, _booted = lab.ensure_up(name)
        # Up means usable: the agent answers over SSH, not only sshd.
        with hosts.connect(_spec_for_lab(inv, name)) as host:
            hello = host.call("hello")
        print(f"{name}: up, ssh 127.0.0.1:{vm.profile.ssh_port}, kernel {hello.get('kernel')}, "
              f"IOMMU {'on' if hello.get('iommu') else 'off'}")
    return 0


def _spec_for_lab(inv, name):
    for host_name in inv.names():
        spec = inv.get(host_name)
        if spec.kind == "qemu" and spec.lab == name:
            return spec
    from ..errors import InventoryError
    raise InventoryError(f"no host in the inventory has kind = \"qemu\" and lab = \"{name}\"")


def run_down(args) -> int:
    for name in _names(args):
        stopped = lab.LabVM(name).down()
        print(f"{name}: {'stopped' if stopped else 'was not running'}")
    return 0


def run_status(args) -> int:
    print(json.dumps([lab.LabVM(name).status() for name in _names(args)], indent=2))
    return 0
