"""`nictest lab build|up|down|status [LAB ...]`: the bundled QEMU lab hosts (or a lab file)."""
from __future__ import annotations

import json
import threading

from .. import lab


def add_parser(sub) -> None:
    parser = sub.add_parser("lab", help="build, boot, stop the bundled QEMU lab hosts")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("build", "build (or reuse) the guest image"),
                       ("up", "boot the labs (in parallel) and wait for SSH and the agent"),
                       ("down", "stop the lab's QEMU"), ("status", "show whether it runs")):
        action = actions.add_parser(name, help=text)
        action.add_argument("labs", nargs="*", metavar="LAB",
                            help=f"{', '.join(lab.PROFILES)}, or a lab .toml file "
                                 f"(default: {'lab1 lab2' if name == 'up' else 'all'})")
        if name == "build":
            action.add_argument("--force", action="store_true", help="rebuild even if cached")
        action.set_defaults(run=globals()[f"run_{name}"])


def _names(args, default=None) -> list:
    return args.labs or default or list(lab.PROFILES)


def run_build(args) -> int:
    image = lab.build_image(force=args.force)
    print(image.dir)
    return 0


def run_up(args) -> int:
    from .. import hosts, inventory
    inv = inventory.load(args.inventory)
    names = _names(args, ["lab1", "lab2"])
    specs = {name: _spec_for_lab(inv, name) for name in names}  # refuse before booting anything
    results, threads = {}, []

    def boot(name):
        try:
            vm, _booted = lab.ensure_up(name)
            # Up means usable: the agent answers over SSH, not only sshd.
            with hosts.connect(specs[name]) as host:
                hello = host.call("hello")
            results[name] = (f"{vm.name}: up, ssh 127.0.0.1:{vm.profile.ssh_port}, kernel "
                             f"{hello.get('kernel')}, IOMMU {'on' if hello.get('iommu') else 'off'}, "
                             f"NICs {' '.join(vm.profile.nic_addresses)}")
        except Exception as exc:  # reported below, per lab, after the others finished
            results[name] = exc

    for name in names:
        threads.append(threading.Thread(target=boot, args=(name,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    failed = None
    for name in names:
        if isinstance(results[name], Exception):
            failed = results[name]
            print(f"{name}: not up: {failed}")
        else:
            print(results[name])
    if failed is not None:
        raise failed
    return 0


def _spec_for_lab(inv, name):
    wanted = lab.profile(name).name
    for host_name in inv.names():
        spec = inv.get(host_name)
        if spec.kind == "qemu" and spec.lab and lab.profile(spec.lab).name == wanted:
            return spec
    from ..errors import InventoryError
    raise InventoryError(f"no host in the inventory has kind = \"qemu\" and lab = \"{name}\"; "
                         f"add one to hosts.toml (nics = {list(lab.profile(name).nic_addresses)})")


def run_down(args) -> int:
    for name in _names(args):
        stopped = lab.LabVM(name).down()
        print(f"{name}: {'stopped' if stopped else 'was not running'}")
    return 0


def run_status(args) -> int:
    print(json.dumps([lab.LabVM(name).status() for name in _names(args)], indent=2))
    return 0
