"""Feature conformance in pytest: the `nic_feature` marker, the claim gate, the `feature` fixture.

    @pytest.mark.nic_feature("mtu", needs=("pmd", "peer"))
    def test_jumbo(feature, pmd_port, peer_port): ...

Before any fixture binds anything, the gate decides (in this order):
  - the NIC's model has no profile: fixtures/profiles.py's skip (names `nictest profile record`);
  - the profile does not list the feature: skip "not claimed: FILE does not list 'mtu' in features";
  - the claim cannot be tested on this host (`needs`: "pmd" a PMD driver for the model,
    "peer" a cabled peer NIC): skip "not testable: ...".
A test that then fails is the NIC breaking a promise: `feature.says(...)` starts its
message with the claim ("nictest/models/igb.json claims 'mtu' (max_frame 9018): ..."),
and every report of a feature test carries nictest.feature / nictest.profile /
nictest.claim user properties for the qualification report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict

import pytest

from nictest.models.schema import FEATURE_PARAMS_REQUIRED, FEATURES

MARKER = "nic_feature"
MARKER_HELP = (f"{MARKER}(name, needs=()): a feature conformance test of a profile's features entry "
               f"({', '.join(FEATURES)}); runs only where the NIC's profile claims it. needs: 'pmd' "
               "(a PMD driver for the model), 'peer' (a cabled peer NIC)")
NEEDS = ("pmd", "peer")
NOT_CLAIMED = "not claimed: "
NOT_TESTABLE = "not testable: "


def profile_name(path: str) -> str:
    """A profile path as a person reads it: relative to the current directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


@dataclass(frozen=True)
class Feature:
    """A claimed feature of the NIC under test: its name, the profile that claims it, its parameters."""
    name: str
    profile_path: str
    params: Dict[str, Any] = field(default_factory=dict)

    @property
    def claim(self) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in self.params.items())
        return f"{profile_name(self.profile_path)} claims {self.name!r}" + (f" ({shown})" if shown else "")

    def says(self, what: str) -> str:
        """A failure message that names the broken promise: "<claim>: <what>"."""
        return f"{self.claim}: {what}"

    def fail(self, what: str) -> None:
        pytest.fail(self.says(what), pytrace=False)

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.fail(what)


def pytest_configure(config):
    config.addinivalue_line("markers", MARKER_HELP)


def _marker_args(marker) -> tuple:
    name = marker.args[0] if marker.args else marker.kwargs.get("name")
    needs = tuple(marker.kwargs.get("needs", ()))
    return name, needs


def pytest_collection_modifyitems(config, items):
    """A marker naming no known feature (or need) is a mistake in the suite: stop the run, naming the test."""
    for item in items:
        marker = item.get_closest_marker(MARKER)
        if marker is None:
            continue
        name, needs = _marker_args(marker)
        if name not in FEATURES:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER}({name!r}): not a profile feature; "
                                    f"known: {', '.join(FEATURES)}")
        bad = [n for n in needs if n not in NEEDS]
        if bad:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER}(needs={needs!r}): unknown {bad[0]!r}; "
                                    f"needs are {', '.join(NEEDS)}")


def _not_testable(request, name: str, needs: tuple) -> str:
    """Why this host cannot test the claim ('' when it can)."""
    # The repository's fixtures (this gate only runs where they serve the suites).
    from fixtures.nics import device
    from fixtures.pmd import no_driver_reason, peer_of, pmd_model

    host, nic = request.getfixturevalue("host"), request.getfixturevalue("nic")
    if "pmd" in needs:
        reason = no_driver_reason(host, nic)
        if reason:
            return reason
        model = pmd_model(host, nic)
        if name not in model["features"]:
            return (f"nictest's {model['driver']} PMD driver ({model['name']}) does not implement {name!r} yet: "
                    f"it implements {', '.join(model['features']) or 'no feature suite'} (add it in "
                    f"nictest/pmd/csrc/drivers/, and the name to the board's .features)")
    if "peer" in needs:
        address = peer_of(host.spec, nic["address"])
        if address is None:
            return (f"{nic['address']} is not cabled to a peer in {host.name}'s `links` (hosts.toml): "
                    f"cable it to a second NIC to test this")
        if "pmd" in needs:
            ids = host.__dict__.setdefault("_nictest_feature_peer_ids", {})   # IDs never change: ask once
            if address not in ids:
                found = device(host, address)
                ids[address] = {"vendor": found["vendor"], "device": found["device"]}
            if pmd_model(host, ids[address]) is None:
                return f"the peer {address} has no nictest PMD driver (the peer sends and receives through the PMD)"
    return ""


@pytest.fixture(autouse=True)
def _nictest_feature_gate(request):
    """Skip an unclaimed or untestable feature before any fixture of the test binds a NIC."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return
    name, needs = _marker_args(marker)
    if "_nictest_driver" in request.fixturenames:
        # A user-space driver this host cannot offer skips first (cheap, and the usual skip).
        from fixtures.nics import require_driver
        require_driver(request.getfixturevalue("host"), request.getfixturevalue("_nictest_driver"),
                       request.config)
    profile = request.getfixturevalue("nic_profile")  # no profile: its own skip
    if not profile.claims(name):
        pytest.skip(f"{NOT_CLAIMED}{profile_name(profile.path)} does not list {name!r} in its features")
    reason = _not_testable(request, name, needs)
    if reason:
        pytest.skip(NOT_TESTABLE + reason)


@pytest.fixture
def feature(request, _nictest_feature_gate, nic_profile) -> Feature:
    """The claimed feature of the marked test, with its profile parameters. A claim missing a
    parameter its suite needs fails here, naming the profile entry to add."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the `feature` fixture needs @pytest.mark.{MARKER}(NAME)")
    name, _ = _marker_args(marker)
    params = dict(nic_profile.data.get(name) or {})
    found = Feature(name, nic_profile.path, params)
    request.node.user_properties.extend([("nictest.feature", name),
                                         ("nictest.profile", profile_name(nic_profile.path)),
                                         ("nictest.claim", found.claim)])
    missing = [k for k in FEATURE_PARAMS_REQUIRED.get(name, ()) if k not in params]
    if missing:
        found.fail(f"the profile gives no {name}.{missing[0]}: add \"{name}\": {{\"{missing[0]}\": ...}} "
                   f"from the datasheet")
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A feature test that fails in any way (an assertion, an agent op the driver refused)
    names the broken claim first: the qualification report shows this line."""
    outcome = yield
    report = outcome.get_result()
    claim = next((v for k, v in item.user_properties if k == "nictest.claim"), None)
    first = report.longreprtext.lstrip().splitlines()[0] if report.longreprtext.strip() else ""
    if report.when == "call" and report.failed and claim and claim not in first:
        report.longrepr = f"{claim}: {report.longreprtext}"


def pytest_runtest_setup(item):
    """Every report of a feature test names its feature, even a skip before `feature` ran."""
    marker = item.get_closest_marker(MARKER)
    if marker is not None and not any(k == "nictest.feature" for k, _ in item.user_properties):
        item.user_properties.append(("nictest.feature", _marker_args(marker)[0]))
