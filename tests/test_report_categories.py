"""Allure categories: categories.json is written, and Allure itself files real pytest
outcomes (assertion, skip, fixture error, lab unavailable, no IOMMU, smoke) under the
category meant for each. Needs allure + Java (bash .ci/setup), no lab."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nictest.errors import PrerequisiteMissing
from nictest.report import allure_cli
from nictest.report.categories import CATEGORIES, write_categories

OUTCOMES = '''
import pytest

@pytest.fixture
def broken_fixture():
    raise RuntimeError("bug in the suite's own fixture")

@pytest.fixture
def unreachable_host():
    pytest.fail("host lab9 unavailable: LabError: lab9 did not boot", pytrace=False)

def test_nic_promise():
    assert 0x283 == 0x280, "STATUS.LU not set"

def test_missing_prerequisite():
    pytest.skip("lab2 has no IOMMU: vfio-pci needs one")

def test_no_iommu():
    pytest.skip("isolation not provided on this host: lab2 has no IOMMU, so UIO ...")

def test_after_failed_smoke():
    pytest.skip("smoke stage failed on lab2: agent did not start")

def test_suite_error(broken_fixture):
    pass

def test_lab_down(unreachable_host):
    pass

def test_fine():
    pass
'''
EXPECTED = {
    "NIC broke a promise": {"test_nic_promise"},
    "Host lacks a prerequisite": {"test_missing_prerequisite"},
    "Isolation not provided (no IOMMU)": {"test_no_iommu"},
    "Smoke stage failed on the host": {"test_after_failed_smoke"},
    "The suite itself broke": {"test_suite_error"},
    "Lab or host unavailable": {"test_lab_down"},
}


def test_write_categories_creates_the_dir_and_valid_json(tmp_path):
    path = write_categories(tmp_path / "new" / "allure-results")
    assert path.name == "categories.json"
    written = json.loads(path.read_text())
    assert written == CATEGORIES
    by_name = {c["name"]: c["matchedStatuses"] for c in written}
    assert by_name["NIC broke a promise"] == ["failed"]
    assert by_name["Host lacks a prerequisite"] == ["skipped"]
    assert by_name["The suite itself broke"] == ["broken"]
    assert [p.name for p in path.parent.iterdir()] == ["categories.json"]  # no partial file left


def test_allure_files_each_outcome_under_its_category(tmp_path):
    try:
        allure_cli.find_allure()
        allure_cli.find_java()
    except PrerequisiteMissing as err:
        pytest.fail(str(err), pytrace=False)
    (tmp_path / "test_outcomes.py").write_text(OUTCOMES)
    results = tmp_path / "results"
    subprocess.run([sys.executable, "-m", "pytest", "test_outcomes.py", "-q", "--alluredir", str(results)],
                   cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert len(list(results.glob("*-result.json"))) == 7, "the inner pytest did not write a result per test"
    write_categories(results)
    allure_cli.generate(results, tmp_path / "html", single_file=False)  # data/categories.json is readable
    tree = json.loads((tmp_path / "html" / "data" / "categories.json").read_text())
    # categories -> message groups -> test results
    filed = {category["name"]: {test["name"] for message in category["children"] for test in message["children"]}
             for category in tree["children"]}
    assert filed == EXPECTED
