"""`nictest vf create|list|remove`: SR-IOV virtual functions on a PF that stays on its kernel driver.

create  enable N VFs on a PF (journalled on the host first; persistent until removed, like
        `nictest bind`); bind a VF to vfio-pci with `nictest bind` as any NIC.
list    the host's SR-IOV PFs and their VFs (driver, netdev, IOMMU group, bound by nictest).
remove  give every VF nictest bound back, then put sriov_numvfs back to what it was.
"""
from __future__ import annotations

import json

from .common import add_host_argument, connect


def add_parser(sub) -> None:
    parser = sub.add_parser("vf", help="create, list and remove SR-IOV virtual functions")
    actions = parser.add_subparsers(dest="vf_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="enable N VFs on a PF")
    add_host_argument(create)
    create.add_argument("address", metavar="PF", help="the PF's PCI address, e.g. 0000:01:00.0")
    create.add_argument("num_vfs", metavar="N", type=int, help="how many VFs (1 to the PF's sriov_totalvfs)")
    create.add_argument("--force", action="store_true",
                        help="even if the PF carries routes (never the SSH session's NIC)")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="the host's SR-IOV PFs and their VFs")
    add_host_argument(listing)
    listing.add_argument("address", metavar="PF", nargs="?", default="", help="only this PF")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)
    remove = actions.add_parser("remove", help="remove the VFs nictest created on a PF")
    add_host_argument(remove)
    remove.add_argument("address", metavar="PF")
    remove.set_defaults(run=run_remove)


def run_create(args) -> int:
    with connect(args) as host:
        result = host.call("vf_create", address=args.address, num_vfs=args.num_vfs, force=args.force,
                           persistent=True)
    print(f"{result['pf']}: {result['num_vfs']} VF(s) on {args.host} ({result['seconds']:.2f} s)")
    for vf in result["vfs"]:
        print(f"  {vf['address']}  driver {vf['driver'] or '-'}  netdev {' '.join(vf['netdevs']) or '-'}  "
              f"IOMMU group {vf['iommu_group'] or '-'}")
    print(f"remove with: nictest vf remove --host {args.host} {result['pf']}")
    return 0


def run_remove(args) -> int:
    with connect(args) as host:
        result = host.call("vf_remove", address=args.address)
    back = ", ".join(r["address"] for r in result.get("vfs_restored", [])) or "none bound"
    print(f"{result['pf']}: sriov_numvfs {result['num_vfs']} again, PF on {result.get('driver')} as "
          f"{result.get('netdev') or '-'} (VFs given back first: {back}; {result['restore_seconds']:.2f} s)")
    return 0


def render(host_name: str, pfs: list) -> str:
    if not pfs:
        return f"{host_name}: no SR-IOV capable PF"
    lines = []
    for pf in pfs:
        made = "created by nictest" if pf.get("created_by_nictest") else "not created by nictest"
        lines.append(f"{pf['pf']}  driver {pf.get('driver') or '-'}  VFs {pf['num_vfs']}/{pf['total_vfs']}"
                     f"{'  (' + made + ')' if pf['num_vfs'] else ''}")
        for vf in pf["vfs"]:
            bound = f"  bound by nictest to {vf['target']}" if vf.get("bound_by_nictest") else ""
            lines.append(f"  {vf['address']}  {vf['device']}  driver {vf.get('driver') or '-'}  "
                         f"netdev {vf.get('netdev') or '-'}  IOMMU group {vf.get('iommu_group') or '-'}{bound}")
    return "\n".join(lines)


def run_list(args) -> int:
    with connect(args) as host:
        result = host.call("vf_list", address=args.address)
    print(json.dumps(result["pfs"], indent=2) if args.json else render(args.host, result["pfs"]))
    return 0
