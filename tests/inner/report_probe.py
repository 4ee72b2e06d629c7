"""A read-only test that attaches evidence, run ONLY as part of tests/test_report.py's
inner pytest run (its name keeps the normal collection away from it).

suites/test_discovery.py attaches nothing, so this gives the report an attachment
whose name the outer test chooses (NICTEST_REPORT_TOKEN) and then looks for.
"""
from __future__ import annotations

import json
import os

import allure
import pytest

pytestmark = pytest.mark.lab


def test_status_is_attached_to_the_report(host):
    status = host.call("status")
    token = os.environ.get("NICTEST_REPORT_TOKEN", "no-token")
    allure.attach(json.dumps(status, indent=1, default=str), f"status of {host.name} {token}",
                  allure.attachment_type.JSON)
    assert status["devices"], f"{host.name} reports no network device"
