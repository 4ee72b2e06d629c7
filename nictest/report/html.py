"""`nictest report`: allure-results (written by pytest) -> a static HTML report."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import ReportError
from . import allure_cli
from .categories import FILE_NAME, write_categories


def result_files(results: Path) -> list[Path]:
    return sorted(results.glob("*-result.json"))


def build_report(results: Path, out: Path) -> Path:
    """Generate the single-file report of `results` into `out`; returns its index.html."""
    if not results.is_dir() or not result_files(results):
        what = "does not exist" if not results.exists() else "holds no allure results (*-result.json)"
        raise ReportError(f"{results} {what}: run pytest with --host first (e.g. pytest suites/ --host lab1), "
                          "or pass --results DIR")
    # Until every pytest session writes it, a results dir may lack the categories.
    if not (results / FILE_NAME).exists():
        write_categories(results)
    allure_cli.generate(results, out)
    index = out / "index.html"
    if not index.exists():
        raise ReportError(f"allure generate finished but wrote no {index}: check that {out} is writable")
    drop_analytics(index)
    return index


# Allure's page loads Google Analytics; a lab report is opened on closed networks and
# should not phone home, so the two script tags (loader + config) are cut out.
ANALYTICS = re.compile(r'\s*<script async src="https://www\.googletagmanager\.com/[^"]*"></script>'
                       r'\s*<script>\s*window\.dataLayer.*?</script>', re.S)


def drop_analytics(index: Path) -> None:
    page = index.read_text()
    cleaned = ANALYTICS.sub("", page, count=1)
    if cleaned != page:
        index.write_text(cleaned)
