"""`nictest report`'s refusals name the fix; no lab, no allure run needed."""
from __future__ import annotations

import subprocess
import sys

import pytest

from nictest.errors import PrerequisiteMissing
from nictest.report import allure_cli
from nictest.report.html import drop_analytics


def report(*argv):
    return subprocess.run([sys.executable, "-m", "nictest.cli", "report", *argv],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("make_dir", [False, True], ids=["missing", "empty"])
def test_no_results_says_run_pytest_with_host(tmp_path, make_dir):
    results = tmp_path / "allure-results"
    if make_dir:
        results.mkdir()
    done = report("--results", str(results), "--out", str(tmp_path / "html"))
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "ReportError" in done.stderr and str(results) in done.stderr
    assert "run pytest with --host first" in done.stderr
    assert not (tmp_path / "html").exists()


def test_missing_allure_says_run_setup(tmp_path, monkeypatch):
    monkeypatch.setattr(allure_cli, "PROJECT_ALLURE", tmp_path / "node_modules" / ".bin" / "allure")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match=r"run bash \.ci/setup"):
        allure_cli.find_allure()


def test_missing_java_says_run_setup(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match=r"run bash \.ci/setup"):
        allure_cli.find_java()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(PrerequisiteMissing, match="JAVA_HOME"):
        allure_cli.find_java()


def test_analytics_scripts_are_cut_and_the_rest_kept(tmp_path):
    index = tmp_path / "index.html"
    index.write_text('<script src="data:app"></script>\n'
                     '    <script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>\n'
                     '    <script>\n        window.dataLayer = window.dataLayer || [];\n'
                     "        gtag('config', 'G-X', {});\n    </script>\n"
                     '    <script async>window.reportDataReady = false;</script>\n')
    drop_analytics(index)
    page = index.read_text()
    assert "googletagmanager" not in page and "dataLayer" not in page
    assert '<script src="data:app"></script>' in page and "window.reportDataReady = false" in page
