"""`nictest report [--results DIR] [--out DIR]`: allure results -> one static HTML file.

`nictest report --qualification [--results FILE|DIR] [--out DIR]`: the qualification
report pytest wrote (reports/qualification.json) rendered again as HTML.
"""
from __future__ import annotations

from pathlib import Path

from ..report import qualification, qualification_html
from ..report.html import build_report

ALLURE_RESULTS, ALLURE_OUT = Path("reports/allure-results"), Path("reports/html")
QUALIFICATION = Path("reports") / qualification.JSON_NAME


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="turn allure results (or the qualification JSON) into a static HTML report")
    parser.add_argument("--qualification", action="store_true",
                        help=f"render the qualification report ({QUALIFICATION}) instead of the Allure report")
    parser.add_argument("--results", type=Path, default=None,
                        help=f"allure results written by pytest (default: {ALLURE_RESULTS}); with --qualification "
                             f"the report's JSON file or its directory (default: {QUALIFICATION})")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where the HTML report goes (default: {ALLURE_OUT}); with --qualification a "
                             f"directory for {qualification.HTML_NAME} (default: beside the JSON)")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.qualification:
        return run_qualification(args)
    index = build_report(args.results or ALLURE_RESULTS, args.out or ALLURE_OUT).resolve()
    print(f"report: {index}")
    print(f"open:   {index.as_uri()}")
    return 0


def run_qualification(args) -> int:
    source = args.results or QUALIFICATION
    report = qualification.load(source)
    out = args.out or (source if source.is_dir() else source.parent)
    page = qualification_html.write(report, out).resolve()
    print(report["verdict_line"])
    print(f"report: {page}")
    print(f"open:   {page.as_uri()}")
    return 0
