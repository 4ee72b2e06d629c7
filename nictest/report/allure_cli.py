"""The Allure command-line tool (npm package allure-commandline) and the Java it runs on.

.ci/setup installs it with `npm ci` into node_modules/ at the repository root; an
`allure` on PATH is the fallback for machines set up another way.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import PrerequisiteMissing, ReportError

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT_ALLURE = REPO_ROOT / "node_modules" / ".bin" / "allure"
GENERATE_TIMEOUT = 600  # seconds; thousands of results on a loaded 2-core machine take a while


def find_allure() -> Path:
    if PROJECT_ALLURE.exists():
        return PROJECT_ALLURE
    on_path = shutil.which("allure")
    if on_path:
        return Path(on_path)
    raise PrerequisiteMissing(f"the Allure command-line tool is not installed ({PROJECT_ALLURE} is missing): "
                              "run bash .ci/setup")


def find_java() -> Path:
    """The java the allure launcher script will use: $JAVA_HOME/bin/java, else java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if java.exists():
            return java
        raise PrerequisiteMissing(f"JAVA_HOME={java_home} has no bin/java: unset it or point it at a "
                                  "Java 17 runtime (run bash .ci/setup for openjdk-17-jre-headless)")
    on_path = shutil.which("java")
    if on_path:
        return Path(on_path)
    raise PrerequisiteMissing("allure needs Java (17) and there is no java on PATH: run bash .ci/setup "
                              "(installs openjdk-17-jre-headless)")


def generate(results: Path, out: Path, single_file: bool = True) -> None:
    """allure generate --clean: `results` -> a static report in `out` (one index.html if single_file)."""
    find_java()
    command = [str(find_allure()), "generate", "--clean", "--report-name", "nictest", "-o", str(out)]
    if single_file:
        command.append("--single-file")  # opens from file:// with no web server
    command.append(str(results))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=GENERATE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ReportError(f"allure generate did not finish in {GENERATE_TIMEOUT} s on {results}: "
                          "rerun it, or clear stale results from old runs out of that directory") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise ReportError(f"allure generate exited {done.returncode} on {results}: {tail}")
