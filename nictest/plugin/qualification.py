"""The qualification report of a run: reports/qualification.json and .html (or --qualification-report DIR).

Workers tag each test with its qualification rows at collection (user property
`nictest.row`: the feature of its `nic_feature` marker, else the suite rows of
its markers); the plugin already tags host and NIC. The controller (also under
xdist: it receives the workers' reports) folds every report into one outcome per
test. At the end it reads each tested host's facts once (one `status`, one
`ethtool -i` per NIC, the profile from the same search path the suites use),
builds the document and renders it.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from ..errors import NictestError, ProfileError
from ..models import FEATURES, find_profile
from ..report import qualification as q
from ..report import qualification_html
from .summary import HOST, NIC

ROW = "nictest.row"
FEATURE_MARKER = "nic_feature"
MARKERS = {
    FEATURE_MARKER: "nic_feature(name): the test checks this feature of the profile's `features` list "
                    "(one row of the qualification report)",
    "profile": "checks the NIC against its model's qualification profile",
}
PROFILES_ENV = "NICTEST_PROFILES"   # the suites' profile search path (fixtures/profiles.py), read the same way
REPORTS = Path(__file__).resolve().parent.parent.parent / "reports"


def pytest_addoption(parser):
    parser.getgroup("nictest").addoption(
        "--qualification-report", default=None, metavar="DIR",
        help=f"write {q.JSON_NAME} and {q.HTML_NAME} into DIR (default with --host: reports/)")


def pytest_configure(config):
    # The feature suites' plugin may register nic_feature too: add each marker line once.
    known = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    for name, text in MARKERS.items():
        if name not in known:
            config.addinivalue_line("markers", text if text.startswith(name + "(") else f"{name}: {text}")
    directory = config.getoption("qualification_report")
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    if directory is None and not config.getoption("host"):
        return
    config._nictest_qualification = _Run(Path(directory) if directory else REPORTS, explicit=directory is not None)
    config.pluginmanager.register(config._nictest_qualification, "nictest-qualification")


def rows_of(item) -> list:
    """The item's qualification rows: its feature, or every suite row its markers name."""
    feature = item.get_closest_marker(FEATURE_MARKER)
    if feature is not None:
        names = [a for a in feature.args if isinstance(a, str)]
        unknown = [n for n in names if n not in FEATURES]
        if not names or unknown or len(names) != len(feature.args):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.{FEATURE_MARKER}{feature.args!r}: name one feature of the profile "
                f"schema, e.g. @pytest.mark.{FEATURE_MARKER}(\"rss\"); known: {', '.join(FEATURES)}")
        return names
    return [row for marker, row in q.SUITE_ROWS if item.get_closest_marker(marker) is not None]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(k == ROW for k, _ in item.user_properties):
            item.user_properties.extend((ROW, row) for row in rows_of(item))


def phase_message(report) -> str:
    """The failure's message (pytest's crash line and what follows) or the skip reason."""
    longrepr = report.longrepr
    if report.skipped:
        if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
            reason = str(longrepr[2])
            return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
        return str(getattr(report, "wasxfail", "") or longrepr or "")
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else report.longreprtext
    return text[:q.MESSAGE_LIMIT]


class _Run:
    """The controller's record of one session (registered only there)."""

    def __init__(self, directory: Path, explicit: bool) -> None:
        self.directory = directory
        self.explicit = explicit      # asked for: written even when no qualification test ran
        self.recorder = q.Recorder()
        self.started = _now()
        self.written: list = []
        self.error = ""

    def pytest_runtest_logreport(self, report):
        props = report.user_properties
        values = dict(props)
        rows = [v for k, v in props if k == ROW]
        if not rows or not values.get(HOST) or not values.get(NIC):
            return
        result = "passed" if report.passed else "skipped" if report.skipped else "failed"
        message = phase_message(report) if result != "passed" else ""
        self.recorder.add(report.nodeid, report.when, result, values[HOST], values[NIC], rows, message)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session, exitstatus):
        # Before the nictest plugin's own sessionfinish closes the hosts and stops the labs.
        # Any error here is reported, never raised: raising would skip the hosts' close and the labs' stop.
        try:
            self.write(session.config, int(exitstatus))
        except Exception as err:  # noqa: BLE001
            self.error = f"the qualification report was not written: {type(err).__name__}: {err}"
        return (yield)

    def write(self, config, exit_status: int) -> None:
        from . import _pool, nictest_version
        outcomes = self.recorder.done()
        if not outcomes and not self.explicit:
            return        # e.g. the library's own tests: keep the last suite run's report
        tested = {}
        for outcome in outcomes:
            tested.setdefault(outcome.host, set()).add(outcome.nic)
        pool = _pool(config)
        facts = {name: host_facts(pool, name, sorted(nics), profile_search(config)) for name, nics in tested.items()}
        meta = {"nictest": nictest_version(), "command": " ".join(["pytest", *config.invocation_params.args]),
                "started": self.started, "finished": _now(), "exit_status": exit_status}
        report = q.build(outcomes, facts, meta)
        self.written = [q.save(report, self.directory), qualification_html.write(report, self.directory)]
        self.verdict_line = report["verdict_line"]

    def pytest_terminal_summary(self, terminalreporter):
        if not self.written and not self.error:
            return
        terminalreporter.section("nictest: qualification report")
        if self.error:
            terminalreporter.write_line(self.error)
            return
        terminalreporter.write_line(self.verdict_line)
        for path in self.written:
            terminalreporter.write_line(f"written: {path}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def profile_search(config) -> list:
    """--profiles DIR (if the suites' fixtures are loaded) and $NICTEST_PROFILES, before the bundled ones."""
    dirs = list(config.getoption("profiles", default=None) or [])
    return dirs + [d for d in os.environ.get(PROFILES_ENV, "").split(os.pathsep) if d]


def host_facts(pool, name: str, addresses: list, profile_dirs: list) -> dict:
    """What the report says about one host and its tested NICs, read once at the end of the run
    (NICs are back on their kernel drivers then, so ethtool sees them)."""
    try:
        host = pool.get(name)
        devices = {d["address"]: d for d in host.call("status")["devices"]}
    except (NictestError, AttributeError, KeyError) as err:
        why = f"cannot read the host at the end of the run: {err}"
        return {"host": {"error": why}, "nics": {a: {"error": why} for a in addresses}}
    info = host.info or {}
    return {"host": {k: info.get(k) for k in ("hostname", "kernel", "iommu", "python")},
            "nics": {a: nic_facts(host, devices.get(a), profile_dirs) for a in addresses}}


DEVICE_FACTS = ("vendor", "device", "subsystem_vendor", "subsystem_device", "vendor_name", "device_name",
                "driver", "module", "netdev")


def nic_facts(host, device, profile_dirs: list) -> dict:
    if device is None:
        return {"error": "the NIC was not on the host at the end of the run"}
    facts = {k: device.get(k) for k in DEVICE_FACTS}
    facts["profile"] = profile_facts(device, profile_dirs)
    facts["model"] = facts["profile"].get("model") or device.get("device_name") or \
        f"{device.get('vendor')}:{device.get('device')}"
    facts["name"] = facts["profile"].get("name") or device.get("device_name")
    facts.update(ethtool_facts(host, device))
    return facts


def profile_facts(device: dict, profile_dirs: list) -> dict:
    try:
        profile = find_profile(device.get("vendor") or "", device.get("device") or "", profile_dirs)
    except ProfileError as err:
        return {"error": str(err)}
    if profile is None:
        return {"error": f"no qualification profile for {device.get('vendor')}:{device.get('device')} "
                         f"(record one with `nictest profile record`)"}
    with open(profile.path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"path": profile.path, "sha256": digest, "model": profile.model, "name": profile.data.get("name"),
            "features": list(profile.features)}


def ethtool_facts(host, device: dict) -> dict:
    """Driver and firmware versions as the kernel driver reports them (`ethtool -i`); a NIC
    without a netdev (no kernel driver, or not restored) has none."""
    netdev = device.get("netdev")
    if not netdev:
        return {"ethtool_error": f"no netdev (driver {device.get('driver') or 'none'}): ethtool -i cannot ask it"}
    try:
        result = host.call("ethtool_i", ifname=netdev)
    except NictestError as err:
        return {"ethtool_error": f"ethtool -i {netdev}: {err}"}
    if result.get("rc") != 0:
        return {"ethtool_error": f"ethtool -i {netdev}: {(result.get('stderr') or '').strip() or result.get('rc')}"}
    info = result.get("info") or {}
    return {"driver_version": info.get("version"), "firmware_version": info.get("firmware-version"),
            "ethtool": info}
