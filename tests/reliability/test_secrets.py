"""No secret in the reports: a session that authenticates with an identity key leaves no key
material in its JUnit XML, allure results or DEBUG log.

An inner pytest session runs against the same host (key auth with the host's identity
file: the lab's generated key for a QEMU lab), binds and restores a NIC, and writes
JUnit XML, allure-results and a DEBUG log file; then every file is searched for the
private key (whole, and each of its base64 lines) and for PEM/OpenSSH markers.
nictest has no password or become-password setting (key auth only, `sudo -n`), so
there is no password to search for.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nictest.hosts.qemu import QemuLabHost
from nictest.hosts.ssh import SSHHost
from tests.reliability.conftest import require_user_driver

pytestmark = [pytest.mark.lab]

INNER = textwrap.dedent('''
    import allure

    def test_session_with_key_auth(host):
        address = host.spec.nics[0]
        with allure.step("bind and restore"):
            host.call("bind", address=address, driver={driver!r}, allow_uio=True)
            host.call("restore", address=address)
        allure.attach(repr(host.spec), name="host spec")
        assert host.call("ping") == {{"pong": True}}
''')


def identity_of(host) -> Path:
    cls = QemuLabHost if host.spec.kind == "qemu" else SSHHost
    path = cls(host.spec).identity_file()
    if not path:
        pytest.skip(f"{host.name} names no identity file: nothing to look for")
    return Path(path)


def test_reports_hold_no_key_material(host, request, tmp_path):
    driver = require_user_driver(host, request.config)
    key = identity_of(host).read_text()
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    (tmp_path / "test_inner.py").write_text(INNER.format(driver=driver))
    reports = tmp_path / "reports"
    argv = [sys.executable, "-m", "pytest", str(tmp_path / "test_inner.py"), "--host", host.name, "--keep-lab",
            "--allow-uio", "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
            f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
            "--log-level=DEBUG", f"--log-file={reports / 'debug.log'}", "--log-file-level=DEBUG"]
    inner = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert inner.returncode == 0, inner.stdout[-3000:] + inner.stderr[-2000:]
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.name == "junit.xml" for p in files) and any(p.suffix == ".json" for p in files)
    assert (reports / "debug.log").stat().st_size > 0, "the DEBUG log is empty: the search would prove nothing"
    texts = {p: p.read_text(errors="replace") for p in files}
    texts[Path("inner stdout+stderr")] = inner.stdout + inner.stderr
    leaks = []
    for path, text in texts.items():
        for marker in ("PRIVATE KEY", "BEGIN OPENSSH", key.strip()):
            if marker in text:
                leaks.append(f"{path.name}: {marker[:30]!r}")
        leaks += [f"{path.name}: key line {i}" for i, line in enumerate(body) if len(line) >= 16 and line in text]
    assert not leaks, f"key material in the reports: {leaks}"
    record = request.node.user_properties
    record.append(("secrets_searched_files", len(texts)))
