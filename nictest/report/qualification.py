"""The per-NIC qualification report: test outcomes + NIC facts -> one JSON document.

Every test that belongs to a qualification row (a feature of the profile's
`features` list, by its `nic_feature` marker, or one of the suites in
SUITE_ROWS, by their markers) is one outcome for its host and NIC. A row's
status folds its tests: fail if any failed (the first failure is kept), pass if
one passed and none failed, else the kind of its skips. Skip reasons starting
with "not claimed: " / "not testable: " are the feature suites' contract.

Pure data in, pure data out: the pytest plugin (nictest/plugin/qualification.py)
records outcomes and facts; `nictest report --qualification` re-renders a saved
JSON (qualification_html.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import ReportError
from ..models.schema import FEATURES

SCHEMA = 1
JSON_NAME, HTML_NAME = "qualification.json", "qualification.html"

# Qualification rows that are existing suites, by marker: (marker, row name).
SUITE_ROWS = (("profile", "profile"), ("restore", "binding/restore"), ("dma", "dma"),
              ("iommu", "iommu isolation"), ("datapath", "datapath"))

PASS, FAIL, ERROR = "pass", "fail", "error"
NOT_CLAIMED, NOT_TESTABLE, SKIPPED, NOT_RUN = "not claimed", "not testable", "skipped", "not run"
STATUSES = (PASS, FAIL, ERROR, NOT_TESTABLE, SKIPPED, NOT_CLAIMED, NOT_RUN)
SKIP_PREFIXES = {"not claimed: ": NOT_CLAIMED, "not testable: ": NOT_TESTABLE}
# When every test of a row skipped for different kinds of reasons, the row shows the first kind here.
SKIP_ORDER = (NOT_TESTABLE, SKIPPED, NOT_CLAIMED)
QUALIFIED, NOT_QUALIFIED, INCOMPLETE = "QUALIFIED", "NOT QUALIFIED", "INCOMPLETE"
MESSAGE_LIMIT = 4000


@dataclass
class Outcome:
    """One test's verdict for one host and NIC (its setup, call and teardown folded)."""
    nodeid: str
    host: str
    nic: str
    rows: Tuple[str, ...]
    outcome: str = ""          # passed | failed | error | skipped
    message: str = ""          # failure message or skip reason


def skip_kind(reason: str) -> str:
    for prefix, kind in SKIP_PREFIXES.items():
        if reason.startswith(prefix):
            return kind
    return SKIPPED


class Recorder:
    """Test reports in, Outcomes out; phases folded as pytest's own summary counts them
    (a teardown error after a pass is an error; a failure stays a failure)."""

    def __init__(self) -> None:
        self.outcomes: Dict[str, Outcome] = {}

    def add(self, nodeid: str, when: str, result: str, host: str, nic: str, rows: Iterable[str],
            message: str = "") -> None:
        """`result` is the phase's passed | failed | skipped."""
        current = self.outcomes.setdefault(nodeid, Outcome(nodeid, host, nic, tuple(rows)))
        if result == "failed":
            if when == "call":
                current.outcome, current.message = "failed", message
            elif current.outcome not in ("failed", "error"):
                current.outcome, current.message = "error", f"{when} error: {message}"
        elif result == "skipped" and current.outcome in ("", "passed"):
            current.outcome, current.message = "skipped", message
        elif result == "passed" and when == "call" and not current.outcome:
            current.outcome = "passed"

    def done(self) -> List[Outcome]:
        return [o for o in self.outcomes.values() if o.outcome]


def row_status(outcomes: List[Outcome]) -> dict:
    """One row of one NIC from its tests' outcomes (in run order)."""
    counts = {k: sum(o.outcome == k for o in outcomes) for k in ("passed", "failed", "error", "skipped")}
    entry = {"tests": counts, "message": "", "test": ""}
    for wanted, status in (("failed", FAIL), ("error", ERROR)):
        first = next((o for o in outcomes if o.outcome == wanted), None)
        if first is not None:
            return {**entry, "status": status, "message": first.message, "test": first.nodeid}
    if counts["passed"]:
        return {**entry, "status": PASS}
    skips = [(skip_kind(o.message), o) for o in outcomes if o.outcome == "skipped"]
    for kind in SKIP_ORDER:
        first = next((o for k, o in skips if k == kind), None)
        if first is not None:
            return {**entry, "status": kind, "message": first.message, "test": first.nodeid}
    return {**entry, "status": NOT_RUN}


def row_names(outcomes: Iterable[Outcome]) -> List[str]:
    """Suite rows, then every known feature, then any other row the run's markers named."""
    known = [name for _, name in SUITE_ROWS] + list(FEATURES)
    extra = sorted({r for o in outcomes for r in o.rows} - set(known))
    return known + extra


def nic_rows(outcomes: List[Outcome], names: List[str], claims: Optional[List[str]]) -> Dict[str, dict]:
    """Every row for one NIC: from its tests, else from what its profile claims."""
    rows = {}
    for name in names:
        mine = [o for o in outcomes if name in o.rows]
        entry = row_status(mine)
        if entry["status"] == NOT_RUN:
            if name in FEATURES and claims is not None and name not in claims:
                entry = {**entry, "status": NOT_CLAIMED, "message": "the profile does not claim it"}
            elif name in FEATURES and claims is None:
                entry = {**entry, "message": "no profile for this model, and no test of it ran"}
            else:
                entry = {**entry, "message": "no test of it ran in this run"}
        rows[name] = entry
    return rows


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


def nic_verdict(rows: Dict[str, dict], claims: Optional[List[str]], no_profile: str = "") -> Tuple[str, str]:
    """(verdict, line). Counted: the suite rows and the claimed features (and any row that failed).
    `claims` None: the NIC's profile is unknown (`no_profile` says why), so it cannot qualify."""
    suites = [name for _, name in SUITE_ROWS]
    claimed = list(claims or [])
    expected = [r for r in rows if r in suites or r in claimed]
    failing = [r for r, e in rows.items() if e["status"] in (FAIL, ERROR)]
    if failing:
        parts = [f"{r} {'fails' if rows[r]['status'] == FAIL else 'errors'}: {_first_line(rows[r]['message'])}"
                 for r in failing]
        return NOT_QUALIFIED, f"{NOT_QUALIFIED}: " + "; ".join(parts)
    passed = [r for r in expected if rows[r]["status"] == PASS]
    untestable = [r for r in expected if rows[r]["status"] == NOT_TESTABLE]
    pending = [r for r in expected if rows[r]["status"] not in (PASS, NOT_TESTABLE)]
    claimed_passed = [r for r in passed if r in claimed]
    suites_passed = [r for r in passed if r in suites]
    what = f"{len(claimed_passed)} claimed feature{'s' if len(claimed_passed) != 1 else ''}"
    passes = f"{what} and {len(suites_passed)} qualification suite{'s' if len(suites_passed) != 1 else ''} pass"
    if untestable:
        passes += "; not testable on this host: " + "; ".join(
            f"{r} ({_first_line(rows[r]['message'])})" for r in untestable)
    if claims is None:
        return INCOMPLETE, f"{INCOMPLETE}: {passes}; features unknown: {_first_line(no_profile or 'no profile')}"
    if pending or not passed:
        groups: Dict[str, List[str]] = {}
        for r in pending:
            groups.setdefault(rows[r]["status"], []).append(r)
        detail = "; ".join(f"{status}: {', '.join(names)}" for status, names in groups.items())
        return INCOMPLETE, f"{INCOMPLETE}: {passes}" + (f"; {detail}" if detail else "; nothing passed")
    return QUALIFIED, f"{QUALIFIED}: {passes}"


def run_verdict(nics: List[dict]) -> Tuple[str, str]:
    if not nics:
        return INCOMPLETE, f"{INCOMPLETE}: no NIC was tested in this run"
    bad = [n for n in nics if n["verdict"] == NOT_QUALIFIED]
    open_ = [n for n in nics if n["verdict"] == INCOMPLETE]
    total = f"{len(nics)} NIC{'s' if len(nics) != 1 else ''}"
    if bad:
        names = "; ".join(f"{n['host']} {n['address']}: {n['verdict_line'][len(NOT_QUALIFIED) + 2:]}" for n in bad)
        return NOT_QUALIFIED, f"{NOT_QUALIFIED}: {len(bad)} of {total} not qualified ({_first_line(names, 400)})"
    if open_:
        return INCOMPLETE, (f"{INCOMPLETE}: {len(open_)} of {total} not fully tested, "
                            f"{len(nics) - len(open_)} qualified")
    return QUALIFIED, f"{QUALIFIED}: all {total} qualified"


def build(outcomes: List[Outcome], facts: Dict[str, dict], meta: dict) -> dict:
    """The report document. `facts`: host -> {"host": {...}, "nics": {address: {...}}} (what the
    plugin read once per host at the end of the run; an entry may hold only an "error")."""
    names = row_names(outcomes)
    hosts = []
    nic_entries = []
    for host in sorted({o.host for o in outcomes} | set(facts)):
        host_facts = facts.get(host, {})
        addresses = sorted({o.nic for o in outcomes if o.host == host})
        nics = []
        for address in addresses:
            nic = dict(host_facts.get("nics", {}).get(address) or {"error": "no facts were read for this NIC"})
            profile = nic.get("profile") or {}
            claims = profile.get("features") if profile.get("path") else None
            no_profile = profile.get("error") or nic.get("error") or "no qualification profile for this model"
            rows = nic_rows([o for o in outcomes if o.host == host and o.nic == address], names, claims)
            verdict, line = nic_verdict(rows, claims, no_profile)
            nic.update(host=host, address=address, rows=rows, verdict=verdict, verdict_line=line)
            nics.append(nic)
        nic_entries += nics
        hosts.append({"name": host, **{k: v for k, v in host_facts.get("host", {}).items()}, "nics": nics})
    verdict, line = run_verdict(nic_entries)
    return {"schema": SCHEMA, **meta, "row_names": names, "verdict": verdict, "verdict_line": line,
            "hosts": hosts}


def save(report: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / JSON_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
    return path


def load(path: Path) -> dict:
    """A saved report; `path` is the JSON file or the directory holding qualification.json."""
    file = path / JSON_NAME if path.is_dir() else path
    if not file.is_file():
        raise ReportError(f"{file} does not exist: run pytest with --host first (e.g. pytest suites/ --host lab1 "
                          f"writes reports/{JSON_NAME}), or pass --results FILE")
    try:
        report = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise ReportError(f"{file}: not a qualification report ({err}); rerun the suites to write it again") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA or not isinstance(report.get("hosts"), list):
        raise ReportError(f"{file}: not a qualification report of schema {SCHEMA} (no 'schema'/'hosts'); "
                          "rerun the suites with this nictest to write it again")
    return report
