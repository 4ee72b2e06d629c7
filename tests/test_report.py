"""`nictest report` end to end: a real read-only suite run on --host, its allure results
turned into the HTML report, and that report rendered in headless Chromium.

Every name and verdict checked comes from the inner run (its JUnit XML), and the
attachment name carries a token chosen here, so a report that lost or mislabelled
anything fails. Screenshots are kept in reports/ (allure-overview-<host>.png,
allure-attachment-<host>.png).
"""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from headless_chromium import WINDOW, dump_dom, require_chromium, screenshot
from rendered_html import parse

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "reports"
# Read-only on purpose: other sessions may be binding NICs on the same host right now.
INNER_TESTS = ("suites/test_discovery.py", "tests/inner/report_probe.py")
PROBE_TEST = "test_status_is_attached_to_the_report"
INNER_TIMEOUT = 900
# A JUnit outcome and the Allure statuses that render it (allure calls a failing fixture
# "failed" or "broken" depending on the exception, JUnit calls both an error).
STATUSES = {"passed": {"passed"}, "failure": {"failed", "broken"}, "error": {"failed", "broken"},
            "skipped": {"skipped"}}


class Report:
    def __init__(self, index: Path, outcomes: dict, token: str, host_name: str) -> None:
        self.index = index
        self.outcomes = outcomes      # (module, test name) -> JUnit outcome
        self.token = token
        self.host_name = host_name

    def url(self, route: str = "") -> str:
        return self.index.as_uri() + route


def junit_outcomes(path: Path) -> dict:
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcomes[(module, case.get("name"))] = outcome
    return outcomes


@pytest.fixture(scope="module")
def reports_by_host() -> dict:
    return {}


@pytest.fixture
def report(host, request, tmp_path_factory, reports_by_host) -> Report:
    """The inner run on this host and `nictest report` of its results, once per host
    (`host` is function-scoped, so the module keeps them)."""
    if host.name not in reports_by_host:
        try:
            reports_by_host[host.name] = build_report(host, request.config.getoption("inventory"), tmp_path_factory)
        except BaseException as err:  # the next tests report this failure instead of rerunning it
            reports_by_host[host.name] = err
            raise
    built = reports_by_host[host.name]
    if isinstance(built, BaseException):
        pytest.fail(f"building the report on {host.name} failed in an earlier test: {str(built)[:500]}", pytrace=False)
    return built


def build_report(host, inventory, tmp_path_factory) -> Report:
    require_chromium()
    work = tmp_path_factory.mktemp(f"report-{re.sub(r'[^A-Za-z0-9]+', '-', host.name)}")
    results, junit, html = work / "allure-results", work / "junit.xml", work / "html"
    token = uuid.uuid4().hex[:12]
    command = [sys.executable, "-m", "pytest", *INNER_TESTS, "--host", host.name, "--keep-lab",
               "--alluredir", str(results), "--junitxml", str(junit), "-q",
               *(["--inventory", inventory] if inventory else [])]
    inner = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=INNER_TIMEOUT,
                           env={**os.environ, "NICTEST_REPORT_TOKEN": token})
    # 0: all passed, 1: some failed - both are verdicts the report must show; anything else is not.
    assert inner.returncode in (0, 1), f"inner pytest exited {inner.returncode}:\n{inner.stdout[-3000:]}{inner.stderr[-2000:]}"
    outcomes = junit_outcomes(junit)
    assert any(module == "test_discovery" for module, _ in outcomes), f"the inner run ran no discovery test: {outcomes}"
    assert ("report_probe", f"{PROBE_TEST}[{host.name}]") in outcomes, outcomes

    done = subprocess.run([sys.executable, "-m", "nictest.cli", "report", "--results", str(results), "--out", str(html)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    index = html / "index.html"
    assert f"report: {index}" in done.stdout, done.stdout
    return Report(index, outcomes, token, host.name)


def tree_of(report: Report) -> tuple[dict, dict]:
    """The Suites tab as rendered: {group name: {status: count}}, {test name: (status, href)}."""
    page = parse(dump_dom(report.url("#suites")))
    groups, leaves = {}, {}
    for title in page.find_all("node__title"):
        name = title.find("node__name").text()
        anchor = title.find("node__anchor")
        if anchor is None:  # a group: its counts per status
            groups[name] = {next(c for c in label.classes if c.startswith("label_status_"))[13:]: int(label.text())
                            for label in title.find_all("label")}
        else:               # a test: the status its icon shows and the link to it
            icon = anchor.find_all("fa")[0]
            status = next(c for c in icon.classes if c.startswith("text_status_"))[12:]
            leaves[name] = (status, _href_of(page, title))
    return groups, leaves


def _href_of(page, title) -> str:
    for link in page.find_all("node__leaf"):
        if title in link.children:
            return link.attrs["href"]
    raise AssertionError(f"test {title.find('node__name').text()} has no link in the tree")


def test_the_suites_and_verdicts_of_the_run_are_rendered(report):
    groups, leaves = tree_of(report)
    for (module, name), outcome in report.outcomes.items():
        assert name in leaves, f"{module}::{name} ran but the rendered Suites tab does not list it: {sorted(leaves)}"
        assert leaves[name][0] in STATUSES[outcome], f"{name}: JUnit says {outcome}, the report shows {leaves[name][0]}"
    for module in {module for module, _ in report.outcomes}:
        assert module in groups, f"suite {module} is not rendered: {sorted(groups)}"
        expected = {}
        for (m, _), outcome in report.outcomes.items():
            if m == module:
                status = "passed" if outcome == "passed" else "skipped" if outcome == "skipped" else "not passed"
                expected[status] = expected.get(status, 0) + 1
        shown = groups[module]
        assert shown.get("passed", 0) == expected.get("passed", 0), (module, shown, expected)
        assert shown.get("skipped", 0) == expected.get("skipped", 0), (module, shown, expected)
        assert shown.get("failed", 0) + shown.get("broken", 0) == expected.get("not passed", 0), (module, shown, expected)


def test_the_overview_lists_the_suites_and_the_total(report):
    png = REPORTS / f"allure-overview-{_safe(report.host_name)}.png"
    screenshot(report.url(), png)
    assert png_size(png) == WINDOW
    text = parse(dump_dom(report.url())).text()
    assert f"{len(report.outcomes)} test cases" in text, text[:2000]
    # The Suites widget names the parent suites of the inner run: its one host, holding every test.
    assert re.search(rf"Suites 1 items? total {re.escape(report.host_name)} {len(report.outcomes)}\b", text), text[:2000]
    # The Environment panel names the host (kernel, IOMMU) and the nictest version.
    assert re.search(rf"Environment nictest \S+.*\b{re.escape(report.host_name)} kernel \S+, IOMMU (on|off)", text), \
        text[:2000]


def test_the_probe_attachment_is_rendered_on_its_test_page(report):
    _, leaves = tree_of(report)
    status, href = leaves[f"{PROBE_TEST}[{report.host_name}]"]
    page = parse(dump_dom(report.url(href)))
    names = [row.text() for row in page.find_all("attachment-row__name")]
    assert f"status of {report.host_name} {report.token}" in names, names
    png = REPORTS / f"allure-attachment-{_safe(report.host_name)}.png"
    screenshot(report.url(href), png)
    assert png_size(png) == WINDOW


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def png_size(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return struct.unpack(">II", head[16:24])
