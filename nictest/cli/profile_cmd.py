"""`nictest profile record|check`: qualification profiles from and against real devices.

    nictest profile record --host H BDF [--out FILE]   # the golden sample -> a profile file
    nictest profile check --host H BDF [--profile FILE] # another unit against it

Both only read config space (the agent's `pci_config` op): nothing is bound or reset.
"""
from __future__ import annotations

import json
import os
import sys

from .. import models
from ..errors import ProfileError
from ..pci import PciAddress
from .common import add_host_argument, connect


def add_parser(sub) -> None:
    profile = sub.add_parser("profile", help="record a NIC model's profile from a device, or check one against it")
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    record = actions.add_parser("record", help="write a profile from a known-good device (the golden sample)")
    check = actions.add_parser("check", help="check a device against its model's profile")
    for parser in (record, check):
        add_host_argument(parser)
        parser.add_argument("address", metavar="BDF", help="PCI address, e.g. 0000:01:00.0")
        parser.add_argument("--profiles", action="append", default=[], metavar="DIR",
                            help="directory of profiles searched before the bundled ones (repeatable)")
    record.add_argument("--out", metavar="FILE", help="write here (default: print to stdout)")
    record.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    record.add_argument("--model", help="model name for a new profile (default: a known profile's, else VVVV-DDDD)")
    check.add_argument("--profile", metavar="FILE", help="this profile file instead of a search by vendor:device")
    record.set_defaults(run=run_record)
    check.set_defaults(run=run_check)


def _facts(args) -> dict:
    address = str(PciAddress.parse(args.address))
    with connect(args) as host:
        facts = host.call("pci_config", address=address)
        listed = [d for d in host.call("status")["devices"] if d["address"] == address]
    # pci.ids names, for the `name` of a new profile (status lists network devices only)
    names = [listed[0].get("vendor_name"), listed[0].get("device_name")] if listed else []
    facts["pci_ids_name"] = " ".join(n for n in names if n)
    return facts


def run_record(args) -> int:
    if args.out and os.path.exists(args.out) and not args.force:
        raise ProfileError(f"{args.out} exists: pass --force to overwrite it, or choose another --out")
    facts = _facts(args)
    known = models.find_profile(facts["vendor"], facts["device"], args.profiles)
    profile = models.profile_from_facts(facts, claims=known.data if known else None, model=args.model,
                                        name=None if known else facts["pci_ids_name"] or None)
    text = json.dumps(profile, indent=2) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
        source = f"queues and features copied from {known.path}" if known else "fill in queues and features"
        print(f"wrote {args.out}: {profile['model']} {facts['vendor']}:{facts['device']} from {facts['address']} "
              f"({source})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for problem in facts.get("problems") or []:
        print(f"warning: {facts['address']}: {problem}", file=sys.stderr)
    return 0


def run_check(args) -> int:
    facts = _facts(args)
    if args.profile:
        profile = models.load_profile(args.profile)
    else:
        profile = models.find_profile(facts["vendor"], facts["device"], args.profiles)
        if profile is None:
            raise ProfileError(f"no profile for {facts['vendor']}:{facts['device']}: record one from a good unit "
                               f"with `nictest profile record --host {args.host} {facts['address']} --out FILE`")
    mismatches = models.check(profile, facts)
    for mismatch in mismatches:
        print(mismatch.message(profile.path, facts["address"]))
    verdict = "matches" if not mismatches else f"differs in {len(mismatches)} entries from"
    print(f"{facts['address']} ({facts['vendor']}:{facts['device']}) {verdict} {profile.path}")
    return 1 if mismatches else 0
