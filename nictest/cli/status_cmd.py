"""`nictest status --host H [--json]`: the NICs of a host, like dpdk-devbind --status."""
from __future__ import annotations

import json

from .common import add_host_argument, connect

JSON_KEYS = ("address", "vendor", "device", "vendor_name", "device_name", "driver",
             "driver_override", "netdev", "mac", "mtu", "operstate", "iommu_group",
             "iommu_group_members", "numa_node", "active", "active_reason",
             "rx_packets", "tx_packets")


def add_parser(sub) -> None:
    parser = sub.add_parser("status", help="list the network devices of a host")
    add_host_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list of devices")
    parser.set_defaults(run=run)


def run(args) -> int:
    with connect(args, resident=True) as host:
        status = host.call("status")
    devices = status["devices"]
    if args.json:
        print(json.dumps([{k: d.get(k) for k in JSON_KEYS} for d in devices], indent=2))
    else:
        print(render_table(args.host, devices, status.get("journal", {})))
    return 0


def _cell(value) -> str:
    return "-" if value in (None, "", []) else str(value)


def render_table(host_name: str, devices: list, journal: dict) -> str:
    header = ("ADDRESS", "ID", "DRIVER", "OVERRIDE", "NETDEV", "MAC", "IOMMU", "NUMA", "ACTIVE")
    rows = []
    for d in devices:
        rows.append((d["address"], f"{d['vendor']}:{d['device']}", _cell(d.get("driver")),
                     _cell(d.get("driver_override")), _cell(d.get("netdev")), _cell(d.get("mac")),
                     _cell(d.get("iommu_group")), _cell(d.get("numa_node")),
                     f"yes: {d.get('active_reason')}" if d.get("active") else "no"))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = [f"Network devices on {host_name}:"]
    for row in [header] + rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    names = [f"  {d['address']}  {d.get('vendor_name') or '?'} {d.get('device_name') or ''}".rstrip()
             for d in devices]
    lines += ["", "Names:"] + names
    for kind, fix in (("stale", "its agent died; `nictest restore --host {host}` brings it back"),
                      ("persistent", "bound by `nictest bind`; `nictest unbind --host {host} {address}`"),
                      ("held", "held by a running session")):
        for entry in journal.get(kind, []):
            owner = entry.get("owner") or {}
            what = f"{entry.get('address')} on {entry.get('target')}"
            if entry.get("members"):  # one entry for a whole IOMMU group (nictest bind --group)
                what = (f"IOMMU group {entry.get('group')} ({', '.join(m['address'] for m in entry['members'])}) "
                        f"on {entry.get('target')}")
            if entry.get("kind") == "sriov":  # VFs made by `nictest vf create`
                what = f"{entry.get('address')} with {len(entry.get('vfs', []))} VF(s) ({', '.join(entry.get('vfs', []))})"
                if kind == "persistent":
                    fix = "made by `nictest vf create`; `nictest vf remove --host {host} {address}`"
            lines.append(f"{kind.upper()}: {what} since {entry.get('bound_at')} (by {owner.get('controller')}): "
                         + fix.format(host=host_name, address=entry.get("address")))
    return "\n".join(lines)
