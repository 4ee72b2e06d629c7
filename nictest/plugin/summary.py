"""The end-of-run table per host: NIC, driver tried, verdicts, bind/restore times.

Built from test reports only (on the controller, also under xdist: the workers'
reports carry the item's host/NIC/driver as user properties).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

HOST, NIC, DRIVER = "nictest.host", "nictest.nic", "nictest.driver"
VERDICTS = ("passed", "failed", "error", "skipped")


@dataclass
class Row:
    host: str
    nic: str
    driver: str
    verdicts: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    bind_seconds: List[float] = field(default_factory=list)
    restore_seconds: List[float] = field(default_factory=list)

    def cells(self) -> List[str]:
        return [self.host, self.nic, self.driver, *(str(self.verdicts[v]) for v in VERDICTS),
                _median(self.bind_seconds), _median(self.restore_seconds)]

    def text(self) -> str:
        counts = ", ".join(f"{v} {self.verdicts[v]}" for v in VERDICTS)
        return (f"{counts}; bind {_median(self.bind_seconds)} s, restore {_median(self.restore_seconds)} s "
                f"(medians of {len(self.bind_seconds)})")


def _median(values: List[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def verdict(report) -> str:
    """One test's verdict from one of its phase reports ("" for a phase that decides nothing)."""
    if report.when == "call":
        return "passed" if report.passed else ("skipped" if report.skipped else "failed")
    if report.failed:                # setup or teardown broke: the suite (or the host) errored
        return "error"
    if report.when == "setup" and report.skipped:
        return "skipped"
    return ""


class RunSummary:
    def __init__(self) -> None:
        self._rows: Dict[Tuple[str, str, str], Row] = {}
        self._seen: Dict[str, str] = {}   # nodeid -> verdict already counted
        self.end_state: Dict[str, Dict[str, str]] = {}  # host -> NIC -> "driver netdev mac" at the end

    def add(self, report) -> None:
        props = dict(report.user_properties)
        if HOST not in props:
            return
        key = (props[HOST], props.get(NIC) or "-", props.get(DRIVER) or "-")
        row = self._rows.setdefault(key, Row(*key))
        if report.when == "teardown":    # restore happens in teardown: both times are known now
            for name, values in (("bind_seconds", row.bind_seconds), ("restore_seconds", row.restore_seconds)):
                if isinstance(props.get(name), (int, float)):
                    values.append(float(props[name]))
        decided = verdict(report)
        previous = self._seen.get(report.nodeid)
        if not decided or previous == "error" or previous == decided:
            return
        if previous:                     # passed in call, then errored in teardown: counts as error
            row.verdicts[previous] -= 1
        row.verdicts[decided] += 1
        self._seen[report.nodeid] = decided

    def rows(self) -> List[Row]:
        return [self._rows[k] for k in sorted(self._rows)]

    def lines(self) -> List[str]:
        header = ["HOST", "NIC", "DRIVER", *(v.upper() for v in VERDICTS), "BIND s", "RESTORE s"]
        table = [header] + [row.cells() for row in self.rows()]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
