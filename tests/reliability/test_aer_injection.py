"""PCIe AER errors injected on the NIC (QEMU `pcie_aer_inject_error`) while a run is going:
the test running at that moment fails, naming the error, with the AER snapshots as
evidence, and only that test.

An inner pytest run (tests/inner/aer_probe.py, three tests on the NIC, each held
until this test lets it end) on the same host: during the first an uncorrectable
non-fatal error is injected (Poisoned TLP), during the second nothing, during the
third a correctable one (Receiver Error). The guard (fixtures/aer.py) must fail
the first and third, naming what was injected, and pass the second. The status
bits the injection set (sticky, RW1C) are cleared afterwards, so the NIC is left
as found. Needs a lab NIC with a QEMU id (lab-igb, lab-igb2: QEMU's igb has AER).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nictest.lab.profiles import profile
from nictest.lab.vm import LabVM
from tests.reliability.conftest import require_lab
from tests.reliability.labshell import LabShell
from tests.test_smoke_stage import outcomes

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

REPO = Path(__file__).resolve().parents[2]
# (inner test, QEMU error name or None, what the guard must name)
STEPS = (("first", "POISON_TLP", "uncorrectable: Poisoned TLP (bit 12)"),
         ("second", None, None),
         ("third", "RCVR", "correctable: Receiver Error (bit 0)"))
CLEAR = {"POISON_TLP": ("4", 1 << 12), "RCVR": ("10", 1 << 0)}  # AER status register offset, bit


def wait_file(path: Path, proc, bound: float = 180.0) -> None:
    started = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the inner run ended before {path.name}: exit {proc.returncode}\n{proc.stdout.read()[-3000:]}")
        assert time.monotonic() - started < bound, f"{path.name} not seen within {bound:g}s"
        time.sleep(0.2)


def test_aer_error_fails_the_test_running_at_that_moment(host, target, scenario, request, tmp_path):
    require_lab(host)
    nic = next((n for n in profile(host.spec.lab).nics if n.guest_address == target), None)
    if nic is None or nic.qemu_id is None:
        pytest.skip(f"{target} on {host.name} has no QEMU id to inject AER errors at")
    vm = LabVM(host.spec.lab)
    run = scenario("AER errors injected (QEMU pcie_aer_inject_error) during an inner run", target)
    signals = tmp_path / "signals"
    signals.mkdir()
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", "tests/inner/aer_probe.py", "--host", host.name, "--nic", target,
               "--inventory", request.config.getoption("inventory") or str(REPO / "hosts.toml"),
               "--keep-lab", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, NICTEST_AER_SIGNALS=str(signals)))
    injected = []
    try:
        for name, error, _named in STEPS:
            wait_file(signals / f"running-{name}", proc)
            if error:
                run.fault()
                reply = vm.monitor(f"pcie_aer_inject_error {nic.qemu_id} {error}")
                assert f"OK id: {nic.qemu_id}" in reply, f"QEMU refused the injection: {reply[-300:]}"
                injected.append(error)
            (signals / f"done-{name}").write_text("")
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for error in injected:  # sticky RW1C bits: write 1 to clear what we set
            offset, bit = CLEAR[error]
            with LabShell(host.spec) as shell:
                shell.run(f"setpci -s {target} ECAP0001+{offset}.l={bit:08x}")
    cases = outcomes(junit)
    verdicts = {name: next((v for case, v in cases.items() if name in case), None) for name, _e, _n in STEPS}
    for name, error, named in STEPS:
        verdict = verdicts[name]
        assert verdict is not None, f"inner test {name} did not run: {cases}\n{output[-3000:]}"
        if error:
            assert verdict[0] == "failure" and named in verdict[1], (
                f"inner test {name} (during {error}) should fail naming {named!r}: {verdict}")
        else:
            assert verdict[0] == "passed", f"inner test {name} (no injection) should pass: {verdict}"
    after = host.call("pci_aer", address=target)
    assert after["aer"] and not after["aer"]["uncorrectable"] and not after["aer"]["correctable"], \
        f"the injected status bits were not cleared: {after['aer']}"
    run.wait_recovered(note=f"inner run: {', '.join(f'{n} {verdicts[n][0]}' for n, _e, _x in STEPS)}; "
                            f"injected {', '.join(injected)} (status bits cleared after)")
