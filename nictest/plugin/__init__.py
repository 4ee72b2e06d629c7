"""pytest plugin (pytest11 entry point): options, markers, host fixtures, reports.

`--host` selects hosts from the inventory; every test that uses the `host`
fixture runs once per host (ids like `lab1`). Labs asked for are booted by the
controller process once per session (in parallel), reused when already running,
and stopped at the end unless --keep-lab or they were running before.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from ..errors import NictestError
from ..report.categories import write_categories
from . import applicable, features, junit, summary
from .hostpool import HostPool, resolve_specs, write_allure_environment, write_host_facts

MARKERS = {
    "lab": "needs a reachable lab host (fails loudly in CI when it cannot get one)",
    "vfio": "uses the VFIO user-space driver path",
    "uio": "uses the UIO user-space driver path (unrestricted DMA: needs --allow-uio)",
    "iommu": "asserts IOMMU isolation",
    "dma": "asserts DMA into hugepage memory",
    "datapath": "sends and receives real packets",
    "destructive": "changes a NIC's driver binding",
    "restore": "asserts kernel-driver restoration",
    "safety": "asserts refusals that protect the host",
    "perf": "records performance figures",
    "smoke": "the blocking smoke stage: runs first per host; when it fails, the host's other tests skip",
    "whole_group": "on a NIC sharing its IOMMU group, vfio-pci binds the whole group (--group); unmarked tests skip",
}
REPORTS = Path(__file__).resolve().parent.parent.parent / "reports"
# The qualification report (its own option, markers and hooks).
pytest_plugins = ["nictest.plugin.qualification"]


def pytest_addoption(parser):
    group = parser.getgroup("nictest", "NIC conformance (nictest)")
    group.addoption("--host", action="append", default=[], metavar="NAME",
                    help="host to test: inventory name or ssh://[user@]addr[:port] (repeatable)")
    group.addoption("--inventory", default=None, metavar="PATH",
                    help="hosts.toml to use instead of the bundled one")
    group.addoption("--nic", action="append", default=[], metavar="BDF",
                    help="only these NICs (PCI addresses; repeatable)")
    group.addoption("--driver", default=None, choices=("vfio-pci", "uio_pci_generic"),
                    help="only this user-space driver")
    group.addoption("--allow-uio", action="store_true",
                    help="allow uio_pci_generic (gives the NIC unrestricted DMA)")
    group.addoption("--keep-lab", action="store_true",
                    help="leave labs this session booted running at the end")
    group.addoption("--keep-allure-results", action="store_true",
                    help="add to the Allure results directory instead of emptying it first")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not config.pluginmanager.has_plugin("nictest-features"):
        config.pluginmanager.register(features, "nictest-features")  # the nic_feature marker and its gate
    _worker_loadgroup(config)
    if not config.getoption("host"):
        return
    # Suite runs report to reports/ unless told otherwise (before junitxml/allure read these).
    if getattr(config.option, "xmlpath", None) is None:
        config.option.xmlpath = str(REPORTS / "junit.xml")
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        config.option.allure_report_dir = str(REPORTS / "allure-results")
    # One run's results, not every earlier run's: allure-pytest empties the directory when
    # the controller starts (workers start later and must not: they would race), unless
    # --keep-allure-results (history belongs in Allure's own history/trend files).
    if hasattr(config.option, "clean_alluredir") and not _is_worker(config) \
            and not config.getoption("keep_allure_results") and not config.option.collectonly:
        config.option.clean_alluredir = True
    try:
        specs = resolve_specs(config.getoption("host"), config.getoption("inventory"))
    except NictestError as err:
        raise pytest.UsageError(f"--host: {err}") from None
    config._nictest_pool = HostPool(specs)
    if not _is_worker(config):
        config._nictest_summary = summary.RunSummary()
        config.pluginmanager.register(_SummaryCollector(config._nictest_summary), "nictest-summary")
        config.pluginmanager.register(junit.SuiteProperties(), "nictest-junit")
    # With -n, keep one host's tests on one worker; the on-host locks back this up.
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") in ("no", "load"):
        config.option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist (controller): workers parse the command line afresh, so tell them loadgroup is on;
    and hand every worker the same host facts collection depends on, read once here: xdist
    needs identical collections, and a worker asking a busy host itself could get no answer."""
    node.workerinput["nictest_loadgroup"] = node.config.getoption("dist") == "loadgroup"
    node.workerinput[COLLECTION_FACTS] = _collection_facts(node.config)


def _worker_loadgroup(config) -> None:
    if getattr(config, "workerinput", {}).get("nictest_loadgroup"):
        config.option.loadgroup = True   # read by xdist's worker when it collects


def _pool(config) -> HostPool | None:
    return getattr(config, "_nictest_pool", None)


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    pool = _pool(session.config)
    if pool is not None and not _is_worker(session.config):
        pool.boot_labs()


@pytest.hookimpl(tryfirst=True)  # the connections are closed at its end
def pytest_sessionfinish(session):
    pool = _pool(session.config)
    if pool is None:
        return
    if not _is_worker(session.config):
        _record_end_state(session.config, pool)
        junit.remember(session.config, _junit_properties(session.config))
    allure_dir = getattr(session.config.option, "allure_report_dir", None)
    if allure_dir and pool.hello:
        write_host_facts(allure_dir, pool.hello)
    if allure_dir and not _is_worker(session.config):   # after the workers wrote theirs
        write_categories(allure_dir)
        write_allure_environment(allure_dir, nictest_version())
    pool.close()
    if not _is_worker(session.config) and not session.config.getoption("keep_lab"):
        pool.stop_booted_labs()


DRIVERS = ("vfio-pci", "uio_pci_generic")


COLLECTION_FACTS = "nictest_collection_facts"
_FACTS = pytest.StashKey[dict]()


def _collection_facts(config) -> dict:
    """{"iommu": {host: bool | None}, "inactive": {host: [NIC, ...]}}: what collection asks of
    the hosts (read from their agents once per run, on the controller; a worker gets a copy)."""
    given = getattr(config, "workerinput", {}).get(COLLECTION_FACTS)
    if given is not None:
        return given
    if _FACTS not in config.stash:
        pool = _pool(config)
        names = list(pool.specs) if pool is not None else []
        config.stash[_FACTS] = {
            "iommu": {name: _read_host_iommu(config, name) for name in names},
            "inactive": {name: _read_inactive_nics(config, name) for name in names
                         if pool.specs[name].nics is None}}
    return config.stash[_FACTS]


def _nics_of(config, spec) -> list:
    """NICs a test may take on this host: --nic, else the inventory's allow-list; no `nics`
    in the inventory means every NIC discovery finds that is not active (never the one
    carrying the session or routes)."""
    chosen = config.getoption("nic")
    if spec.nics is None:
        allowed = _inactive_nics(config, spec.name)
    else:
        allowed = list(spec.nics)
    return [a for a in chosen if spec.nics is None or a in allowed] if chosen else allowed


def _inactive_nics(config, name) -> list:
    return _collection_facts(config)["inactive"].get(name, [])


def _read_inactive_nics(config, name) -> list:
    """Discovery on the host: the NICs nobody uses ([] when it cannot be reached: the host
    fixture reports why)."""
    try:
        devices = _pool(config).get(name).call("status")["devices"]
    except NictestError:
        return []
    return [d["address"] for d in devices if not d.get("active")]


def _host_iommu(config, name):
    return _collection_facts(config)["iommu"].get(name)


def _read_host_iommu(config, name):
    """Whether the host has an IOMMU, from its agent's hello; None when it cannot be reached
    (the host fixture reports why)."""
    try:
        return bool(_pool(config).get(name).info.get("iommu"))
    except NictestError:
        return None


_LEFT_OUT = pytest.StashKey[dict]()   # host -> driver -> tests not collected (applicable.py)


def _leave_out_other_drivers(config, items) -> None:
    """Deselect the variants of the user-space driver that does not apply to their host."""
    if _pool(config) is None or config.getoption("driver"):
        return
    kept, dropped, counts = applicable.split(items, lambda name: _host_iommu(config, name))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    applicable.merge(config.stash.setdefault(_LEFT_OUT, {}), counts)
    if _is_worker(config):   # the controller prints them (pytest_testnodedown)
        config.workeroutput["nictest_left_out"] = counts


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist (controller): what a worker's collection left out, for the terminal summary."""
    counts = getattr(node, "workeroutput", {}).get("nictest_left_out")
    if counts:
        applicable.merge(node.config.stash.setdefault(_LEFT_OUT, {}), counts)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Variants of a driver that does not apply to their host are left out; the smoke stage
    runs first (a stable sort: the order is otherwise kept); Allure's Suites tree reads
    host -> NIC -> suite."""
    _leave_out_other_drivers(config, items)
    items.sort(key=lambda item: item.get_closest_marker("smoke") is None)
    if config.pluginmanager.hasplugin("allure_pytest"):
        import allure
        for item in items:
            params = _item_params(item)
            if params.get("_nictest_host_name"):
                item.add_marker(allure.parent_suite(params["_nictest_host_name"]))
                item.add_marker(allure.suite(params.get("_nictest_nic") or "host"))
                item.add_marker(allure.sub_suite(item.module.__name__.rsplit(".", 1)[-1]))


@functools.lru_cache(maxsize=1)  # two git calls, asked for by JUnit and by Allure
def nictest_commit() -> str:
    """The git commit nictest runs from, 12 hex digits (+changes when the tree is modified);
    "" outside a git checkout."""
    import subprocess
    repo = Path(__file__).resolve().parent.parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f"{sha}{'+changes' if dirty else ''}" if sha else ""


def nictest_version() -> str:
    """The version and git commit nictest runs from (what a qualification report must name)."""
    from importlib.metadata import version
    commit = nictest_commit()
    return f"{version('nictest')} ({commit})" if commit else version("nictest")


def _item_params(item) -> dict:
    return getattr(getattr(item, "callspec", None), "params", {})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Tag every report with its host/NIC/driver (for the summary table and JUnit)."""
    params = _item_params(item)
    if params.get("_nictest_host_name") and not any(k == summary.HOST for k, _ in item.user_properties):
        item.user_properties.append((summary.HOST, params["_nictest_host_name"]))
        if params.get("_nictest_nic"):
            item.user_properties.append((summary.NIC, params["_nictest_nic"]))
        if params.get("_nictest_driver"):
            item.user_properties.append((summary.DRIVER, params["_nictest_driver"]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A smoke test that fails latches its host: the host's other tests skip with this reason."""
    outcome = yield
    report = outcome.get_result()
    pool = _pool(item.config)
    name = _item_params(item).get("_nictest_host_name")
    if pool is not None and name and report.failed and item.get_closest_marker("smoke"):
        reason = call.excinfo.exconly().splitlines()[0] if call.excinfo else report.longreprtext[-300:]
        pool.smoke_failed.setdefault(name, f"{item.name}: {reason}")


class _SummaryCollector:
    """Feeds every test report to the run summary, on the controller only (under xdist the
    controller sees the reports workers send back)."""

    def __init__(self, table: summary.RunSummary) -> None:
        self.table = table

    def pytest_runtest_logreport(self, report):
        self.table.add(report)


def _record_end_state(config, pool) -> None:
    """Where each tested host's NICs ended (all should be back on their kernel drivers)."""
    table = getattr(config, "_nictest_summary", None)
    tested = {row.host for row in table.rows()} if table else set()
    for name in tested:
        try:
            devices = {d["address"]: d for d in pool.get(name).call("status")["devices"]}
        except NictestError as err:
            table.end_state[name] = {"*": f"unknown: {err}"}
            continue
        table.end_state[name] = {
            address: (f"{d['driver'] or 'no driver'} {d['netdev'] or '-'} {d['mac'] or '-'}" if d else "missing")
            for address in _nics_of(config, pool.specs[name]) for d in [devices.get(address)]}


def _junit_properties(config) -> list:
    """The run's <testsuite> properties: nictest's version and commit, each tested host's
    kernel and IOMMU, the per-host summary rows and where every NIC ended."""
    table = getattr(config, "_nictest_summary", None)
    if table is None:
        return []
    pool = _pool(config)
    props = [("nictest", nictest_version()), ("nictest.commit", nictest_commit() or "unknown")]
    for name in sorted(table.end_state):   # hosts tested (the controller connected to each at the end)
        hello = pool.hello.get(name, {}) if pool else {}
        props += [(f"{name}.kernel", hello.get("kernel")), (f"{name}.iommu", hello.get("iommu"))]
    props += [(f"summary.{row.host}.{row.nic}.{row.driver}", row.text()) for row in table.rows()]
    for name, per_driver in sorted(config.stash.get(_LEFT_OUT, {}).items()):
        props += [(f"left_out.{name}.{driver}", f"{n} tests: {applicable.why_left_out(driver)}")
                  for driver, n in sorted(per_driver.items())]
    for name, nics in sorted(table.end_state.items()):
        props += [(f"end.{name}.{address}", text) for address, text in sorted(nics.items())]
    return props


def pytest_terminal_summary(terminalreporter):
    table = getattr(terminalreporter.config, "_nictest_summary", None)
    if table is not None and table.rows():
        terminalreporter.section("nictest: per-host summary")
        for line in table.lines():
            terminalreporter.write_line(line)
        for name, nics in sorted(table.end_state.items()):
            ends = "; ".join(f"{address} {text}" for address, text in sorted(nics.items()))
            terminalreporter.write_line(f"{name} NICs at the end: {ends}")
    left_out = applicable.lines(terminalreporter.config.stash.get(_LEFT_OUT, {}))
    if left_out:
        terminalreporter.section("nictest: left out (the user-space driver does not apply to the host)")
        for line in left_out:
            terminalreporter.write_line(line)
    pool = _pool(terminalreporter.config)
    if pool is not None and pool.smoke_failed:
        terminalreporter.section("nictest: smoke stage failed (these hosts' other tests were skipped)")
        for name, reason in pool.smoke_failed.items():
            terminalreporter.write_line(f"{name}: {reason}")
    if pool is None or not pool.replayed:
        return
    terminalreporter.section("nictest: stale bindings restored at session start")
    for name, results in pool.replayed.items():
        for result in results:
            terminalreporter.write_line(f"{name}: {result.get('address')} back on {result.get('driver')} "
                                        f"(was {result.get('was')})")


def _host_group(config, name) -> list:
    """Under xdist (--dist loadgroup), all of a host's tests go to one worker: its NICs are
    cabled pairs, so the host's group is also its pairs' group. Set on the parameter itself,
    so it is there before xdist reads the groups at collection."""
    if not name or not config.pluginmanager.hasplugin("xdist"):  # its marker is unknown without it
        return []
    return [pytest.mark.xdist_group(name=f"host-{name}")]


def pytest_generate_tests(metafunc):
    config = metafunc.config
    pool = _pool(config)
    names = list(pool.specs) if pool else [None]
    if "_nictest_nic" in metafunc.fixturenames:
        # One test per (host, NIC): host and NIC are parametrized together.
        pairs = [(name, nic) for name in names if name
                 for nic in _nics_of(config, pool.specs[name])] or [(None, None)]
        metafunc.parametrize(("_nictest_host_name", "_nictest_nic"),
                             [pytest.param(h, n, id=f"{h}-{n}" if h else "no-host", marks=_host_group(config, h))
                              for h, n in pairs], scope="session")
    elif "host" in metafunc.fixturenames:
        metafunc.parametrize("_nictest_host_name",
                             [pytest.param(n, id=n or "no-host", marks=_host_group(config, n)) for n in names],
                             scope="session")
    if "_nictest_driver" in metafunc.fixturenames:
        drivers = [config.getoption("driver")] if config.getoption("driver") else list(DRIVERS)
        metafunc.parametrize("_nictest_driver", drivers, scope="session")


@pytest.fixture(scope="session")
def _nictest_host_name(request):
    return request.param


@pytest.fixture
def host(request, _nictest_host_name):
    """The connected host under test (one agent connection per host per process). Function
    scope, so a host whose smoke stage failed skips each later test with that reason."""
    if _nictest_host_name is None:
        message = "this test needs a host under test: pass --host lab1 (or another inventory name)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + " [fails in CI]")
    pool = _pool(request.config)
    if _nictest_host_name in pool.smoke_failed and not request.node.get_closest_marker("smoke"):
        pytest.skip(f"smoke stage failed on {_nictest_host_name}: {pool.smoke_failed[_nictest_host_name]}")
    try:
        connected = pool.get(_nictest_host_name)
    except NictestError as err:
        pytest.fail(f"host {_nictest_host_name} unavailable: {err}", pytrace=False)
    return connected
