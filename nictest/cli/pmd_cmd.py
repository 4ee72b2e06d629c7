"""`nictest pmd send|recv`: run the C poll-mode driver on one NIC of a host, print ONE JSON object.

Both bind the NIC as `hold` does (non-persistent: the agent's dead man's switch restores it if
this process dies), vfio-pci when the host has an IOMMU, else uio_pci_generic with --allow-uio.
When the inventory's `links` cable the NIC to a peer that is on its kernel driver, the peer's
link is brought up (IPv6 off, so no stray traffic) and carrier awaited first — the lab drops
frames to a NIC whose link is down — and the peer is put back as it was afterwards.
"""
from __future__ import annotations

import json
import signal
from contextlib import ExitStack

from ..binding.drivers import user_driver
from ..errors import StateError
from .common import add_host_argument, connect


def add_parser(sub) -> None:
    pmd = sub.add_parser("pmd", help="send or receive frames with the C poll-mode driver")
    actions = pmd.add_subparsers(dest="pmd_command", required=True, metavar="ACTION")
    send = actions.add_parser("send", help="transmit COUNT frames of SIZE bytes (sequence + pattern)")
    recv = actions.add_parser("recv", help="receive COUNT of our frames (pattern and sequence checked)")
    for parser in (send, recv):
        add_host_argument(parser)
        parser.add_argument("address", metavar="BDF", help="PCI address, e.g. 0000:00:03.0")
        parser.add_argument("--count", type=int, required=True, help="number of frames")
        parser.add_argument("--allow-uio", action="store_true",
                            help="on a host without IOMMU, use uio_pci_generic (unrestricted DMA)")
        parser.add_argument("--carrier-timeout", type=float, default=10.0, metavar="S",
                            help="how long to wait for the peer's carrier (default 10 s)")
    send.add_argument("--size", type=int, default=64, help="frame size without FCS, 60..1514 (default 64)")
    send.add_argument("--rate", type=int, default=0, metavar="PPS", help="packets per second (0: as fast as possible)")
    send.add_argument("--dst", default=None, metavar="MAC",
                      help="destination MAC (default: the cabled peer's, else broadcast)")
    recv.add_argument("--timeout", type=float, default=10.0, metavar="S", help="give up after S seconds (default 10)")
    send.set_defaults(run=run_send)
    recv.set_defaults(run=run_recv)


def _peer(host, address: str):
    """The cabled peer's device dict, or None when the inventory declares none."""
    for link in host.spec.links or ():
        if address in link:
            other = link[1 - list(link).index(address)]
            for dev in host.call("status")["devices"]:
                if dev["address"] == other:
                    return dev
    return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _run(args, action) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with connect(args) as host, ExitStack() as undo:
        driver = user_driver(bool(host.info.get("iommu")), args.allow_uio)
        out = {"host": args.host, "address": args.address, "driver": driver}
        peer = _peer(host, args.address)
        if peer is not None and peer.get("netdev"):
            prep = host.call("net_prepare", ifname=peer["netdev"], up=True, ipv6=False,
                             carrier_timeout_ms=int(args.carrier_timeout * 1000))
            prev = prep["previous"]
            undo.callback(host.call, "net_prepare", ifname=peer["netdev"], up=bool(prev["up"]),
                          ipv6=True if prev["ipv6"] is None else bool(prev["ipv6"]), carrier_timeout_ms=0)
            out["peer"] = {"address": peer["address"], "netdev": peer["netdev"], "mac": peer["mac"],
                           "carrier": prep["carrier"], "carrier_seconds": prep["carrier_seconds"]}
            if not prep["carrier"]:
                raise StateError(f"peer {peer['netdev']} has no carrier {args.carrier_timeout} s after link up: "
                                 f"check the cabling of {args.address}")
        elif peer is not None:
            out["peer"] = {"address": peer["address"], "netdev": None, "driver": peer.get("driver")}
        bound = host.call("bind", address=args.address, driver=driver, allow_uio=args.allow_uio, persistent=False)
        undo.callback(host.call, "restore", address=bound["address"])
        opened = host.call("pmd_open", address=bound["address"], backend="vfio" if driver == "vfio-pci" else "uio")
        undo.callback(host.call, "pmd_close", port=opened["port"])
        link = host.call("pmd_link", port=opened["port"], timeout_ms=int(args.carrier_timeout * 1000))
        out["mac"] = opened["mac"]
        out["link_up"] = link["link_up"]
        out.update(action(host, opened["port"], out))
    print(json.dumps(out))
    return 0 if not out.get("errors") and out.get("packets") == args.count else 1


def run_send(args) -> int:
    def send(host, port, out):
        dst = args.dst or out.get("peer", {}).get("mac")
        before = host.call("pmd_stats", port=port)
        tx = host.call("pmd_tx", port=port, count=args.count, size=args.size, dst=dst, rate_pps=args.rate,
                       timeout_ms=5000, timeout=max(60.0, args.count / 1000))
        after = host.call("pmd_stats", port=port)
        return {"direction": "send", "dst": dst or "ff:ff:ff:ff:ff:ff", "size": args.size,
                "packets": tx["packets"], "bytes": tx["bytes"], "seconds": round(tx["seconds"], 6),
                "pps": round(tx["pps"]), "errors": args.count - tx["packets"],
                "hw_tx_packets": after["tx_packets"] - before["tx_packets"]}
    return _run(args, send)


def run_recv(args) -> int:
    def recv(host, port, out):
        ms = int(args.timeout * 1000)
        rx = host.call("pmd_rx", port=port, count=args.count, timeout_ms=ms, timeout=args.timeout + 30)
        return {"direction": "recv", "packets": rx["packets"], "bytes": rx["bytes"],
                "seconds": round(rx["seconds"], 6), "pps": round(rx["pps"]), "errors": rx["errors"],
                "timed_out": rx["timed_out"], "lost": rx["lost"], "out_of_order": rx["out_of_order"],
                "foreign": rx["foreign"]}
    return _run(args, recv)
