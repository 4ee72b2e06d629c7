"""The qualification report without a lab: phases folded into outcomes, outcomes into rows,
rows into verdicts, facts read once per host, the HTML escaped, `nictest report --qualification`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nictest.errors import HostUnreachable, ReportError
from nictest.models import bundled_profiles
from nictest.plugin import qualification as plugin
from nictest.report import qualification as q
from nictest.report import qualification_html
from rendered_html import parse

SUITES = [name for _, name in q.SUITE_ROWS]


def outcome(nodeid, rows, result, message="", host="lab1", nic="0000:00:03.0"):
    return q.Outcome(nodeid, host, nic, tuple(rows), result, message)


def test_phases_fold_like_pytests_summary():
    rec = q.Recorder()
    args = ("lab1", "0000:00:03.0", ["rss"])
    rec.add("a", "setup", "passed", *args)
    rec.add("a", "call", "passed", *args)
    rec.add("a", "teardown", "passed", *args)
    rec.add("b", "setup", "passed", *args)
    rec.add("b", "call", "passed", *args)
    rec.add("b", "teardown", "failed", *args, message="restore failed")
    rec.add("c", "setup", "skipped", *args, message="not claimed: no rss")
    rec.add("c", "teardown", "passed", *args)
    rec.add("d", "call", "failed", *args, message="hash 0x1 != 0x2")
    rec.add("d", "teardown", "failed", *args, message="later")
    rec.add("e", "setup", "failed", *args, message="fixture broke")
    rec.add("f", "setup", "passed", *args)    # interrupted: no verdict, not counted
    got = {o.nodeid: (o.outcome, o.message) for o in rec.done()}
    assert got == {"a": ("passed", ""), "b": ("error", "teardown error: restore failed"),
                   "c": ("skipped", "not claimed: no rss"), "d": ("failed", "hash 0x1 != 0x2"),
                   "e": ("error", "setup error: fixture broke")}


@pytest.mark.parametrize("results, status, message", [
    ([("passed", ""), ("failed", "first"), ("failed", "second")], q.FAIL, "first"),
    ([("passed", ""), ("skipped", "not testable: x")], q.PASS, ""),
    ([("error", "setup error: y"), ("passed", "")], q.ERROR, "setup error: y"),
    ([("skipped", "not claimed: a"), ("skipped", "not testable: b")], q.NOT_TESTABLE, "not testable: b"),
    ([("skipped", "not claimed: a"), ("skipped", "needs --allow-uio")], q.SKIPPED, "needs --allow-uio"),
    ([("skipped", "not claimed: a"), ("skipped", "not claimed: b")], q.NOT_CLAIMED, "not claimed: a"),
    ([], q.NOT_RUN, ""),
])
def test_a_rows_status_folds_its_tests(results, status, message):
    tests = [outcome(f"t{i}", ["vlan"], r, m) for i, (r, m) in enumerate(results)]
    entry = q.row_status(tests)
    assert (entry["status"], entry["message"]) == (status, message)
    if status in (q.FAIL, q.ERROR):
        assert entry["test"] == next(t.nodeid for t in tests if t.message == message)
    assert sum(entry["tests"].values()) == len(results)


def rows(**statuses):
    return {name: {"status": statuses.get(name, q.PASS), "message": f"why {name}", "test": "", "tests": {}}
            for name in SUITES + ["rss", "vlan", "mtu"]}


def test_verdicts():
    claims = ["rss", "vlan"]
    verdict, line = q.nic_verdict(rows(mtu=q.NOT_CLAIMED), claims)
    assert (verdict, line) == (q.QUALIFIED, "QUALIFIED: 2 claimed features and 5 qualification suites pass")
    verdict, line = q.nic_verdict(rows(rss=q.FAIL, mtu=q.NOT_CLAIMED), claims)
    assert (verdict, line) == (q.NOT_QUALIFIED, "NOT QUALIFIED: rss fails: why rss")
    # A failing test counts even for a row the profile does not claim.
    assert q.nic_verdict(rows(mtu=q.ERROR), claims)[1] == "NOT QUALIFIED: mtu errors: why mtu"
    verdict, line = q.nic_verdict(rows(vlan=q.NOT_TESTABLE, mtu=q.NOT_CLAIMED), claims)
    assert verdict == q.QUALIFIED and line.endswith("; not testable on this host: vlan (why vlan)")
    verdict, line = q.nic_verdict(rows(vlan=q.NOT_RUN, dma=q.SKIPPED, mtu=q.NOT_CLAIMED), claims)
    assert (verdict, line) == (q.INCOMPLETE, "INCOMPLETE: 1 claimed feature and 4 qualification suites pass; "
                                             "skipped: dma; not run: vlan")
    verdict, line = q.nic_verdict(rows(), None, "no profile for 10ec:8139")
    assert verdict == q.INCOMPLETE and line.endswith("features unknown: no profile for 10ec:8139")


def test_run_verdict():
    ok = {"host": "lab1", "address": "a", "verdict": q.QUALIFIED, "verdict_line": "QUALIFIED: x"}
    bad = {"host": "lab2", "address": "b", "verdict": q.NOT_QUALIFIED, "verdict_line": "NOT QUALIFIED: rss fails: m"}
    half = {**ok, "verdict": q.INCOMPLETE}
    assert q.run_verdict([ok, ok]) == (q.QUALIFIED, "QUALIFIED: all 2 NICs qualified")
    assert q.run_verdict([ok, bad, half]) == (q.NOT_QUALIFIED, "NOT QUALIFIED: 1 of 3 NICs not qualified "
                                                                "(lab2 b: rss fails: m)")
    assert q.run_verdict([ok, half])[0] == q.INCOMPLETE
    assert q.run_verdict([])[0] == q.INCOMPLETE


def sample_report() -> dict:
    """Two hosts, three NICs, every status; one message tries to inject markup."""
    lab1, lab2 = "lab1", "lab2"
    tests = [
        outcome("p1", ["profile"], "passed"),
        outcome("d1", ["dma"], "passed"),
        outcome("r1", ["rss"], "failed", "AssertionError: <script>alert(1)</script> hash 0x1 != 0x2"),
        outcome("v1", ["vlan"], "skipped", "not testable: the peer cannot send tagged frames"),
        outcome("m1", ["mtu"], "skipped", "not claimed: mtu"),
        outcome("p2", ["profile"], "passed", nic="0000:00:04.0"),
        outcome("p3", ["profile"], "passed", host=lab2),
        outcome("x3", ["future_feature"], "passed", host=lab2),
    ]
    profile = {"path": "/models/e1000e.json", "sha256": "ab" * 32, "model": "e1000e", "features": ["rss", "vlan"]}
    nic = {"model": "e1000e", "vendor": "8086", "device": "10d3", "subsystem_vendor": "8086",
           "subsystem_device": "0000", "driver": "e1000e", "driver_version": "6.1.0", "firmware_version": "1.2-3",
           "netdev": "enp0s3", "profile": profile}
    facts = {lab1: {"host": {"kernel": "6.1.0-fake", "iommu": True},
                    "nics": {"0000:00:03.0": nic, "0000:00:04.0": nic}},
             lab2: {"host": {"error": "cannot read the host at the end of the run: down"},
                    "nics": {"0000:00:03.0": {"error": "cannot read the host at the end of the run: down"}}}}
    return q.build(tests, facts, {"nictest": "0.1.0 (abc)", "command": "pytest <suites>", "exit_status": 1})


def test_build_one_entry_per_host_and_nic_with_every_row():
    report = sample_report()
    assert report["row_names"] == SUITES + list(q.FEATURES) + ["future_feature"]
    (lab1, lab2) = report["hosts"]
    first, second = lab1["nics"]
    assert first["rows"]["rss"]["status"] == q.FAIL and first["rows"]["rss"]["test"] == "r1"
    assert first["rows"]["vlan"]["status"] == q.NOT_TESTABLE
    assert first["rows"]["mtu"]["status"] == q.NOT_CLAIMED
    assert first["rows"]["stats"] == {**first["rows"]["stats"], "status": q.NOT_CLAIMED,
                                      "message": "the profile does not claim it"}
    assert first["rows"]["datapath"]["status"] == q.NOT_RUN
    assert first["verdict"] == q.NOT_QUALIFIED and first["verdict_line"].startswith("NOT QUALIFIED: rss fails:")
    assert second["rows"]["rss"]["status"] == q.NOT_RUN        # claimed, never ran
    assert second["verdict"] == q.INCOMPLETE
    (third,) = lab2["nics"]
    assert third["rows"]["future_feature"]["status"] == q.PASS
    assert third["verdict"] == q.INCOMPLETE and "cannot read the host" in third["verdict_line"]
    assert lab2["error"].startswith("cannot read the host")
    assert report["verdict"] == q.NOT_QUALIFIED


def test_save_and_load_round_trip_and_refusals(tmp_path):
    report = sample_report()
    path = q.save(report, tmp_path / "out")
    assert q.load(path) == json.loads(json.dumps(report)) == q.load(tmp_path / "out")
    with pytest.raises(ReportError, match="run pytest with --host first"):
        q.load(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text('{"hosts": 1}')
    with pytest.raises(ReportError, match="not a qualification report of schema 1"):
        q.load(tmp_path / "bad.json")


def matrix_of(root) -> tuple:
    """The rendered matrix: its NIC columns [(host, NIC)] and {(host, NIC): {row: cell text}}."""
    columns = [(th.attrs["data-host"], th.attrs["data-nic"]) for th in root.find_all("matrix-nic")]
    cells = {}
    for row in root.find_all("matrix-row"):
        for cell in row.find_all("cell"):
            key = (cell.attrs["data-host"], cell.attrs["data-nic"])
            cells.setdefault(key, {})[cell.attrs["data-row"]] = cell.text()
    return columns, cells


def test_html_escapes_everything_and_shows_a_matrix_column_per_nic():
    report = sample_report()
    page = qualification_html.render(report)
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    root = parse(page)
    columns, cells = matrix_of(root)
    assert columns == [("lab1", "0000:00:03.0"), ("lab1", "0000:00:04.0"), ("lab2", "0000:00:03.0")]
    assert cells[columns[0]] == {name: entry["status"] for name, entry in report["hosts"][0]["nics"][0]["rows"].items()}
    assert [r.attrs["data-row"] for r in root.find_all("matrix-row")] == report["row_names"]
    sections = root.find_all("nic")
    assert len(sections) == 3
    assert "hash 0x1 != 0x2" in sections[0].text() and "sha256 " + "ab" * 32 in sections[0].text()


class FakeHost:
    def __init__(self, devices, ethtool):
        self.info = {"kernel": "6.1.0-test", "iommu": True, "hostname": "guest", "python": "3.11"}
        self.devices, self.ethtool, self.calls = devices, ethtool, []

    def call(self, op, **args):
        self.calls.append(op)
        if op == "status":
            return {"devices": self.devices}
        assert op == "ethtool_i", op
        return self.ethtool(args["ifname"])


class FakePool:
    def __init__(self, hosts):
        self.hosts = hosts

    def get(self, name):
        if name not in self.hosts:
            raise HostUnreachable(f"{name}: cannot connect")
        return self.hosts[name]


def test_host_facts_read_once_per_host_with_profile_hash_and_ethtool():
    e1000e = bundled_profiles()["8086:10d3"]
    devices = [{"address": "0000:00:03.0", "vendor": "8086", "device": "10d3", "subsystem_vendor": "8086",
                "subsystem_device": "0000", "driver": "e1000e", "module": "e1000e", "netdev": "enp0s3",
                "device_name": "82574L Gigabit Network Connection"},
               {"address": "0000:00:05.0", "vendor": "10ec", "device": "8139", "driver": None, "netdev": None}]
    ok = {"rc": 0, "stdout": "", "stderr": "", "info": {"driver": "e1000e", "version": "6.1.0-test",
                                                        "firmware-version": "1.8-0"}}
    host = FakeHost(devices, lambda ifname: ok)
    facts = plugin.host_facts(FakePool({"lab1": host}), "lab1", ["0000:00:03.0", "0000:00:05.0", "0000:00:09.0"], [])
    assert host.calls == ["status", "ethtool_i"]    # one status per host, ethtool only where there is a netdev
    assert facts["host"] == {"hostname": "guest", "kernel": "6.1.0-test", "iommu": True, "python": "3.11"}
    nic = facts["nics"]["0000:00:03.0"]
    assert (nic["model"], nic["driver"], nic["driver_version"], nic["firmware_version"]) == \
        ("e1000e", "e1000e", "6.1.0-test", "1.8-0")
    import hashlib
    assert nic["profile"]["path"] == e1000e.path
    assert nic["profile"]["sha256"] == hashlib.sha256(Path(e1000e.path).read_bytes()).hexdigest()
    assert nic["profile"]["features"] == list(e1000e.features)
    other = facts["nics"]["0000:00:05.0"]
    assert "no qualification profile for 10ec:8139" in other["profile"]["error"]
    assert other["ethtool_error"].startswith("no netdev (driver none)")
    assert facts["nics"]["0000:00:09.0"] == {"error": "the NIC was not on the host at the end of the run"}
    down = plugin.host_facts(FakePool({}), "lab9", ["0000:00:03.0"], [])
    assert "lab9: cannot connect" in down["host"]["error"]
    assert "lab9: cannot connect" in down["nics"]["0000:00:03.0"]["error"]


def test_cli_renders_the_saved_json_again(tmp_path):
    q.save(sample_report(), tmp_path)
    done = subprocess.run([sys.executable, "-m", "nictest.cli", "report", "--qualification", "--results",
                           str(tmp_path / q.JSON_NAME), "--out", str(tmp_path / "html")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("NOT QUALIFIED: 1 of 3 NICs not qualified")
    page = (tmp_path / "html" / q.HTML_NAME).read_text()
    assert len(matrix_of(parse(page))[0]) == 3
    missing = subprocess.run([sys.executable, "-m", "nictest.cli", "report", "--qualification", "--results",
                              str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "ReportError" in missing.stderr
    assert "run pytest with --host first" in missing.stderr


def test_a_feature_marker_without_a_known_name_stops_the_run(tmp_path):
    (tmp_path / "test_bad.py").write_text('import pytest\n\n@pytest.mark.nic_feature("rrs")\ndef test_x():\n    pass\n')
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bad.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert done.returncode == 4, done.stdout + done.stderr      # usage error, nothing ran
    # The feature plugin's collection check or this one's, whichever runs first: both name it.
    assert "nic_feature('rrs'" in done.stderr + done.stdout
    assert "known: mtu, vlan" in done.stderr + done.stdout
