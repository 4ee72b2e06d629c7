"""`nictest bind|unbind|restore|hold`: move a NIC between its kernel driver and a user-space one.

bind    persistent until restored (like dpdk-devbind); the journal on the host keeps it.
        --group binds every endpoint of the NIC's IOMMU group to vfio-pci as one unit
        (needed where NICs share a group: VFIO hands user space whole groups only).
unbind  the inverse of bind: back to the kernel driver recorded in the journal (a whole
        group when the NIC was bound with --group).
restore replay the journal: stale entries (default), one BDF, or --all.
hold    bind, print one line, hold until interrupted, then restore; if this process
        dies (even SIGKILL) the agent's dead man's switch restores the NIC.
"""
from __future__ import annotations

import signal
import time

from .common import add_host_argument, connect

DRIVERS = ("vfio-pci", "uio_pci_generic")


def add_parser(sub) -> None:
    for name, text in (("bind", "bind a NIC to a user-space driver until restored"),
                       ("hold", "bind a NIC, hold it until interrupted, then restore it")):
        parser = sub.add_parser(name, help=text)
        add_host_argument(parser)
        parser.add_argument("address", metavar="BDF", help="PCI address, e.g. 0000:00:03.0")
        parser.add_argument("driver", choices=DRIVERS)
        parser.add_argument("--force", action="store_true",
                            help="bind even if the NIC carries routes (never the SSH session's NIC)")
        parser.add_argument("--any-class", action="store_true", help="allow a device that is not a NIC")
        parser.add_argument("--allow-uio", action="store_true",
                            help="allow uio_pci_generic (the device gets unrestricted DMA)")
        parser.add_argument("--group", action="store_true",
                            help="bind every endpoint of the NIC's IOMMU group to vfio-pci as one unit "
                                 "(bridges stay as they are); unbind/restore bring them all back")
        parser.set_defaults(run=run_bind if name == "bind" else run_hold)
    unbind = sub.add_parser("unbind", help="give a bound NIC back to its kernel driver")
    add_host_argument(unbind)
    unbind.add_argument("address", metavar="BDF")
    unbind.set_defaults(run=run_unbind)
    restore = sub.add_parser("restore", help="restore NICs from the host's journal")
    add_host_argument(restore)
    which = restore.add_mutually_exclusive_group()
    which.add_argument("address", metavar="BDF", nargs="?", help="only this NIC")
    which.add_argument("--all", action="store_true", help="every entry nobody holds, persistent ones too")
    restore.set_defaults(run=run_restore)


def _bind(host, args, persistent: bool) -> dict:
    return host.call("bind", address=args.address, driver=args.driver, force=args.force,
                     any_class=args.any_class, allow_uio=args.allow_uio, persistent=persistent, group=args.group)


def _bound_line(host_name: str, result: dict) -> str:
    node = result.get("device_node") or "-"
    what = result["address"]
    if "members" in result:
        what = f"IOMMU group {result['group']} ({', '.join(m['address'] for m in result['members'])})"
    return f"{what} bound to {result['driver']} on {host_name} ({node}, {result.get('seconds', 0):.2f} s)"


def run_bind(args) -> int:
    with connect(args, resident=True) as host:
        result = _bind(host, args, persistent=True)
    print(_bound_line(args.host, result))
    print(f"restore with: nictest unbind --host {args.host} {result['address']}")
    return 0


def _restored_line(result: dict) -> str:
    if not result.get("restored", True):
        return f"{result['address']}: {result.get('reason')}"
    seconds = f"{result.get('restore_seconds', 0):.2f} s"
    if "members" in result:
        back = ", ".join(f"{m['address']} on {m.get('driver')} as {m.get('netdev') or '-'}" for m in result["members"])
        return f"IOMMU group {result.get('group')} back: {back} ({seconds})"
    return f"{result['address']} back on {result.get('driver')} as {result.get('netdev') or '-'} ({seconds})"


def run_unbind(args) -> int:
    with connect(args, resident=True) as host:
        print(_restored_line(host.call("restore", address=args.address)))
    return 0


def run_restore(args) -> int:
    with connect(args, resident=True) as host:
        if args.address:
            results = [host.call("restore", address=args.address)]
        else:
            results = host.call("restore_all", stale_only=not args.all)
    for result in results:
        print(_restored_line(result))
    if not results:
        print("nothing to restore")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_hold(args) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with connect(args, resident=True) as host:
        result = _bind(host, args, persistent=False)
        print(_bound_line(args.host, result) + "; holding, Ctrl-C restores", flush=True)
        try:
            while True:
                time.sleep(5)
                host.call("ping")  # notice a dead link instead of holding nothing
        except KeyboardInterrupt:
            pass
        print(_restored_line(host.call("restore", address=result["address"])), flush=True)
    return 0
