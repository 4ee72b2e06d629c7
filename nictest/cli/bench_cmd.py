"""`nictest bench --host H`: kernel path vs PMD, lifecycle and controller overhead, parallel
scaling, measured side by side on the host; writes bench.json and a plot, and with
--update-readme the README's table. `nictest bench --table` only re-renders the table
from an existing bench.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InventoryError


def add_parser(sub) -> None:
    from nictest.bench.runner import GROUPS

    parser = sub.add_parser("bench", help="benchmark kernel vs PMD path and nictest's own overhead on a host")
    parser.add_argument("--host", help="inventory name or ssh://... (required unless --table)")
    parser.add_argument("--pair-host", metavar="H2",
                        help="second host for the parallel-scaling group (default: lab2 when --host is lab1)")
    parser.add_argument("--json", default="reports/bench.json", metavar="PATH", help="default reports/bench.json")
    parser.add_argument("--plot", default="reports/bench.png", metavar="PATH", help="default reports/bench.png")
    parser.add_argument("--readme", default="README.md", metavar="PATH", help="README to update (default README.md)")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the README block between <!-- bench:begin --> and <!-- bench:end -->")
    parser.add_argument("--table", action="store_true",
                        help="do not measure: print the table from --json (with --update-readme, rewrite it)")
    parser.add_argument("--allow-uio", action="store_true",
                        help="on a host without IOMMU, measure with uio_pci_generic (unrestricted DMA)")
    parser.add_argument("--only", default=",".join(GROUPS), metavar="GROUPS",
                        help=f"comma-separated subset of {','.join(GROUPS)} (and peers)")
    parser.add_argument("--peers", action="store_true",
                        help="also run DPDK's testpmd and dpdk-devbind.py on the same NICs (DPDK must be on "
                             "the host: the bundled lab-bench has it) and report nictest/peer ratios")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per data-path figure (default 7)")
    parser.add_argument("--note", action="append", default=[], metavar="TEXT",
                        help="a note to keep with the results (e.g. what a profile showed); repeatable")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nictest.bench import runner, table
    from nictest.bench.context import Plan

    json_path = Path(args.json)
    readme = Path(args.readme) if args.update_readme else None
    if args.table:
        data = json.loads(json_path.read_text())
        if readme is not None:
            table.update_readme(readme, data)
            print(f"updated {readme}", file=sys.stderr)
        else:
            print(table.render(data))
        return 0
    if not args.host:
        raise InventoryError("nictest bench needs --host H (or --table to only render an existing bench.json)")
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    known = runner.GROUPS + (runner.PEERS,)
    unknown = sorted(set(groups) - set(known))
    if unknown:
        raise InventoryError(f"--only {','.join(unknown)}: known groups are {','.join(known)}")
    if args.peers and runner.PEERS not in groups:
        groups.append(runner.PEERS)
    plan = Plan() if args.reps is None else Plan(reps=args.reps)
    data = runner.run(args.host, pair_host=args.pair_host or runner.default_pair(args.host),
                      inventory_path=args.inventory, allow_uio=args.allow_uio, plan=plan, groups=groups,
                      notes=args.note)
    for path in runner.write_outputs(data, json_path, Path(args.plot), readme):
        print(f"wrote {path}", file=sys.stderr)
    print(table.render(data))
    return 0 if all(data[g]["ok"] for g in groups) else 1
