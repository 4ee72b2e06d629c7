"""`nictest report [--results DIR] [--out DIR]`: allure results -> one static HTML file."""
from __future__ import annotations

from pathlib import Path

from ..report.html import build_report


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="turn allure results into a static HTML report")
    parser.add_argument("--results", type=Path, default=Path("reports/allure-results"),
                        help="allure results written by pytest (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("reports/html"),
                        help="where the HTML report goes (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args) -> int:
    index = build_report(args.results, args.out).resolve()
    print(f"report: {index}")
    print(f"open:   {index.as_uri()}")
    return 0
