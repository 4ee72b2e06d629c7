"""The qualification report as one self-contained HTML page (no script, no external file).

Everything that comes from a run (names, messages, paths) is escaped; the page is
readable printed or from file:// on a closed network, which is where a vendor's
qualification ticket gets read.
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Iterable

from .qualification import ERROR, FAIL, HTML_NAME, NOT_QUALIFIED, QUALIFIED

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d1d1f; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 28px 0 6px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #c8c8cc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f5; font-weight: 600; }
.matrix td.cell, .matrix td.matrix-verdict { text-align: center; white-space: nowrap; min-width: 110px; }
.matrix td.matrix-verdict { display: table-cell; border-radius: 0; font-size: 12px; }
.status-pass { background: #d7f5dc; } .status-fail, .status-error { background: #fbd3d0; font-weight: 600; }
.status-not-testable { background: #fff1c2; } .status-skipped { background: #ececec; }
.status-not-claimed { color: #8a8a8e; } .status-not-run { color: #8a8a8e; font-style: italic; }
.verdict { font-weight: 700; padding: 6px 10px; display: inline-block; border-radius: 4px; }
.verdict-qualified { background: #d7f5dc; } .verdict-not-qualified { background: #fbd3d0; }
.verdict-incomplete { background: #fff1c2; }
pre { white-space: pre-wrap; margin: 2px 0; font-size: 12px; max-width: 900px; }
.muted { color: #6e6e73; } code { font-size: 12px; }
"""


def css_name(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def verdict_class(verdict: str) -> str:
    return f"verdict verdict-{css_name(verdict)}"


def _facts_table(css: str, pairs: Iterable) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="{css}">{rows}</table>'


def run_facts(report: dict) -> str:
    hosts = "; ".join(f"{h['name']}: kernel {h.get('kernel') or '?'}, IOMMU "
                      f"{'on' if h.get('iommu') else 'off' if h.get('iommu') is False else '?'}"
                      + (f" ({h['error']})" if h.get("error") else "") for h in report["hosts"])
    return _facts_table("run-facts", [
        ("nictest", _e(report.get("nictest"))),
        ("command", f"<code>{_e(report.get('command'))}</code>"),
        ("started", _e(report.get("started"))), ("finished", _e(report.get("finished"))),
        ("pytest exit status", _e(report.get("exit_status"))),
        ("hosts", _e(hosts)),
    ])


def nic_model(nic: dict) -> str:
    return nic.get("model") or "unknown model"


def matrix(report: dict) -> str:
    """Rows: the qualification rows; columns: the NICs (host, address, model); a verdict row last."""
    nics = [(host, nic) for host in report["hosts"] for nic in host["nics"]]
    head = "".join(f'<th class="matrix-nic" data-host="{_e(h["name"])}" data-nic="{_e(n["address"])}">'
                   f'{_e(h["name"])}<br><a href="#{_anchor(h["name"], n["address"])}">{_e(n["address"])}</a><br>'
                   f'{_e(nic_model(n))}</th>' for h, n in nics)
    body = []
    for name in report["row_names"]:
        cells = "".join(
            f'<td class="cell status-{css_name(n["rows"][name]["status"])}" data-host="{_e(h["name"])}" '
            f'data-nic="{_e(n["address"])}" data-row="{_e(name)}" title="{_e(n["rows"][name]["message"][:300])}">'
            f'{_e(n["rows"][name]["status"])}</td>' for h, n in nics)
        body.append(f'<tr class="matrix-row" data-row="{_e(name)}"><th>{_e(name)}</th>{cells}</tr>')
    verdicts = "".join(f'<td class="{verdict_class(n["verdict"])} matrix-verdict" data-host="{_e(h["name"])}" '
                       f'data-nic="{_e(n["address"])}">{_e(n["verdict"])}</td>' for h, n in nics)
    return (f'<table class="matrix"><thead><tr><th>row</th>{head}</tr></thead><tbody>{"".join(body)}'
            f'<tr class="matrix-verdicts"><th>verdict</th>{verdicts}</tr></tbody></table>')


def _anchor(host: str, address: str) -> str:
    return "nic-" + css_name(f"{host}-{address}")


def _ids(nic: dict) -> str:
    if not nic.get("vendor"):
        return "?"
    sub = (f", subsystem {nic.get('subsystem_vendor') or '?'}:{nic.get('subsystem_device') or '?'}")
    names = " ".join(n for n in (nic.get("vendor_name"), nic.get("device_name")) if n)
    return f"{nic['vendor']}:{nic['device']}{sub}" + (f" ({names})" if names else "")


def _profile(nic: dict) -> str:
    profile = nic.get("profile") or {}
    if not profile.get("path"):
        return f'<span class="muted">none: {_e(profile.get("error") or nic.get("error") or "not found")}</span>'
    return (f"<code>{_e(profile['path'])}</code><br>sha256 <code>{_e(profile.get('sha256'))}</code><br>"
            f"claims: {_e(', '.join(profile.get('features') or []) or 'nothing')}")


def nic_section(host: dict, nic: dict) -> str:
    facts = [
        ("model", _e(f"{nic_model(nic)}" + (f" ({nic['name']})" if nic.get("name") else ""))),
        ("PCI IDs", _e(_ids(nic))),
        ("kernel driver", _e(" ".join(str(x) for x in (nic.get("driver") or "none",
                                                       f"(module {nic['module']})" if nic.get("module") else "")))),
        ("driver version", _e(nic.get("driver_version") or nic.get("ethtool_error") or "?")),
        ("firmware version", _e(nic.get("firmware_version") or nic.get("ethtool_error") or "?")),
        ("netdev", _e(nic.get("netdev") or "none")),
        ("kernel", _e(host.get("kernel") or "?")),
        ("profile", _profile(nic)),
    ]
    if nic.get("error"):
        facts.append(("facts", _e(nic["error"])))
    rows = []
    for name, entry in nic["rows"].items():
        counts = entry.get("tests") or {}
        tally = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "none"
        detail = ""
        if entry.get("message"):
            label = "first failure" if entry["status"] in (FAIL, ERROR) else "why"
            test = f' <code>{_e(entry["test"])}</code>' if entry.get("test") else ""
            detail = f'<span class="muted">{label}</span>{test}<pre>{_e(entry["message"])}</pre>'
        rows.append(f'<tr class="feature-row" data-row="{_e(name)}"><td>{_e(name)}</td>'
                    f'<td class="status-{css_name(entry["status"])}">{_e(entry["status"])}</td>'
                    f"<td>{_e(tally)}</td><td>{detail}</td></tr>")
    return (f'<section class="nic" id="{_anchor(host["name"], nic["address"])}" data-host="{_e(host["name"])}" '
            f'data-nic="{_e(nic["address"])}"><h2>{_e(host["name"])} · {_e(nic["address"])} · {_e(nic_model(nic))}'
            f'</h2><p class="{verdict_class(nic["verdict"])}">{_e(nic["verdict_line"])}</p>'
            + _facts_table("nic-facts", facts)
            + '<table class="features"><thead><tr><th>row</th><th>status</th><th>tests</th><th>detail</th></tr>'
              f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


def render(report: dict) -> str:
    sections = "".join(nic_section(h, n) for h in report["hosts"] for n in h["nics"])
    legend = (f"{QUALIFIED}: every qualification suite and every claimed feature passed; "
              f"{NOT_QUALIFIED}: one failed; INCOMPLETE: nothing failed but not everything was shown to work. "
              "not claimed: the profile does not list the feature; not testable: this host cannot test it.")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>nictest qualification: {_e(report['verdict'])}</title><style>{STYLE}</style></head><body>"
            f'<h1>NIC qualification report</h1><p class="{verdict_class(report["verdict"])}" id="run-verdict">'
            f'{_e(report["verdict_line"])}</p>{run_facts(report)}'
            f'<h2>Model × feature matrix</h2>{matrix(report)}<p class="muted">{_e(legend)}</p>'
            f"{sections or '<p>No NIC was tested in this run.</p>'}</body></html>\n")


def write(report: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / HTML_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(report), encoding="utf-8")
    tmp.replace(path)
    return path
