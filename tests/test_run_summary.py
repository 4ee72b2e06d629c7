"""The per-host summary table, built from test reports (no lab needed)."""
from __future__ import annotations

from types import SimpleNamespace

from nictest.plugin import summary


def report(nodeid, when, outcome, **props):
    base = [(summary.HOST, "lab1"), (summary.NIC, "0000:00:03.0"), (summary.DRIVER, "vfio-pci")]
    return SimpleNamespace(nodeid=nodeid, when=when, passed=outcome == "passed", failed=outcome == "failed",
                           skipped=outcome == "skipped", user_properties=base + list(props.items()))


def run(table, nodeid, outcomes, **props):
    for when, outcome in zip(("setup", "call", "teardown"), outcomes):
        table.add(report(nodeid, when, outcome, **(props if when == "teardown" else {})))


def test_verdicts_and_median_times():
    table = summary.RunSummary()
    run(table, "a", ["passed", "passed", "passed"], bind_seconds=0.2, restore_seconds=0.6)
    run(table, "b", ["passed", "failed", "passed"], bind_seconds=0.4, restore_seconds=0.8)
    run(table, "c", ["passed", "passed", "failed"], bind_seconds=0.3, restore_seconds=1.0)  # teardown broke
    run(table, "d", ["skipped"])
    (row,) = table.rows()
    assert row.verdicts == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}
    assert row.cells()[-2:] == ["0.30", "0.80"]
    lines = table.lines()
    assert lines[0].split()[:3] == ["HOST", "NIC", "DRIVER"]
    assert lines[1].split() == ["lab1", "0000:00:03.0", "vfio-pci", "1", "1", "1", "1", "0.30", "0.80"]


def test_reports_without_a_host_are_not_counted():
    table = summary.RunSummary()
    table.add(SimpleNamespace(nodeid="x", when="call", passed=True, failed=False, skipped=False,
                              user_properties=[]))
    assert table.rows() == []
