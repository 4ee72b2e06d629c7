"""The feature framework without a lab: per-feature profile parameters are checked like
the rest of a profile, and the nic_feature gate skips, passes and fails as its contract
says (an inner pytest run with a fake host, NIC and profile)."""
from __future__ import annotations

import copy
import json
import textwrap

import pytest

pytest_plugins = ["pytester"]

from nictest import models
from nictest.errors import ProfileError
from nictest.plugin.features import Feature, profile_name


def igb() -> dict:
    return copy.deepcopy([p for p in models.bundled_profiles().values() if p.model == "igb"][0].data)


def write(tmp_path, data) -> str:
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_bundled_profiles_give_the_parameters_of_what_they_claim():
    for profile in models.bundled_profiles().values():
        for feature, keys in models.schema.FEATURE_PARAMS_REQUIRED.items():
            if profile.claims(feature):
                assert all(k in profile.data.get(feature, {}) for k in keys), (profile.path, feature)


@pytest.mark.parametrize("change, key", [
    (lambda d: d.update(mtu={"max_frame": "9018"}), "mtu.max_frame: expected an integer"),
    (lambda d: d.update(mtu={"max_frame": 0}), "mtu.max_frame: expected a positive number"),
    (lambda d: d.update(mtu={"max_frames": 9018}), "mtu.max_frames: unknown key"),
    (lambda d: d.update(filters=[16]), "filters: expected an object"),
    (lambda d: d.update(stats={"octets_include_fcs": 1}), "stats.octets_include_fcs: expected true or false"),
    (lambda d: (d["features"].remove("mtu"), d.update(mtu={"max_frame": 9018})), "mtu: parameters for 'mtu', which"),
])
def test_a_broken_feature_parameter_names_file_and_key(change, key, tmp_path):
    data = igb()
    change(data)
    with pytest.raises(ProfileError) as err:
        models.load_profile(write(tmp_path, data))
    assert f"card.json: {key}" in str(err.value)


def test_a_failure_message_names_the_profile_entry(tmp_path):
    f = Feature("mtu", str(tmp_path / "igb.json"), {"max_frame": 9018})
    assert f.says("frame of 9018 B not received") == \
        f"{tmp_path / 'igb.json'} claims 'mtu' (max_frame 9018): frame of 9018 B not received"
    assert profile_name(models.BUNDLED_DIR + "/igb.json").endswith("nictest/models/igb.json")


INNER = '''
import pytest

pytest_plugins = ["pytester"]
from nictest import models

@pytest.fixture
def host():
    class Spec:
        links = []
    class Host:
        name, spec = "fake", Spec()
        _nictest_pmd_built = True
        def call(self, op, **args):   # the PMD's ID table: a driver that implements stats only
            assert op == "pmd_model_for", op
            return {"model": {"driver": "igb", "name": "82576", "features": ["stats"]}, "drivers": "igb"}
    return Host()

@pytest.fixture
def nic():
    return {"address": "0000:00:03.0", "vendor": "8086", "device": "10c9"}

@pytest.fixture
def nic_profile():
    return models.load_profile(PROFILE)

@pytest.mark.nic_feature("stats")
def test_claimed_passes(feature):
    assert feature.params == {"octets_include_fcs": True}

@pytest.mark.nic_feature("stats")
def test_claimed_fails(feature):
    raise RuntimeError("the driver refused")

@pytest.mark.nic_feature("rss")
def test_unclaimed(feature):
    raise AssertionError("must not run")

@pytest.mark.nic_feature("filters", needs=("peer",))
def test_untestable(feature):
    raise AssertionError("must not run")

@pytest.mark.nic_feature("vlan", needs=("pmd",))
def test_not_in_the_driver(feature):
    raise AssertionError("must not run")

@pytest.mark.nic_feature("stats", needs=("pmd",))
def test_in_the_driver(feature):
    assert feature.name == "stats"
'''


def test_the_gate_skips_unclaimed_and_untestable_and_failures_name_the_claim(tmp_path, pytester):
    data = igb()
    data["features"].remove("rss")
    path = write(tmp_path, data)
    pytester.makepyfile(test_inner=textwrap.dedent(INNER).replace("PROFILE", repr(path)))
    # fixtures.pmd / fixtures.nics are the repository's: make them importable in the inner run
    import fixtures
    pytester.syspathinsert(str(__import__("pathlib").Path(fixtures.__file__).resolve().parent.parent))
    result = pytester.runpytest("-rs", "-q")
    result.assert_outcomes(passed=2, failed=1, skipped=3)
    out = result.stdout.str()
    assert f"not claimed: {path} does not list 'rss' in its features" in out
    assert "not testable: 0000:00:03.0 is not cabled to a peer in fake's `links`" in out
    assert "not testable: nictest's igb PMD driver (82576) does not implement 'vlan' yet: it implements stats" in out
    assert f"{path} claims 'stats' (octets_include_fcs True): " in out and "the driver refused" in out
