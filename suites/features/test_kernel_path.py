"""Feature `kernel_path`: the NIC on its kernel driver, as ethtool and the network stack see it.

`ethtool -i` names the profile's model family as the driver; -k, -l, -g are recorded and the
channels stay within the profile's queues; the offline self-test passes where the driver
supports one (unless the profile says kernel_path.self_test false: then it is run and
attached, not asserted); the register dump (-d) and EEPROM (-e) read and are attached as evidence; an
MTU raised to what the profile promises and both ends take (lowered to 1280 where the profile
promises no jumbo frames) carries unfragmented pings both ways with the peer (in a
network namespace of its own); offload toggles (-K) take effect. Every MTU and offload is
put back as it was, and checked.
"""
from __future__ import annotations

import allure
import pytest

from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

ETH_OVERHEAD = 18          # header + FCS: max_frame - 18 is the MTU
IP_ICMP = 28               # IPv4 + ICMP headers inside the MTU
SMALLER_MTU = 1280         # IPv6's minimum link MTU: the change made when the profile promises no jumbo frames
TOGGLES = ("rx-checksumming", "tx-checksumming", "scatter-gather", "tcp-segmentation-offload",
           "generic-segmentation-offload", "generic-receive-offload", "rx-vlan-offload")


def _ethtool(host, ifname: str, what: str) -> dict:
    res = host.call("ethtool_query", ifname=ifname, what=what)
    allure.attach(res["stdout"] or res["stderr"], f"ethtool -{what} {ifname}", allure.attachment_type.TEXT)
    return res


def _link(host, ifname: str) -> dict:
    for link in host.call("ip_links"):
        if link["ifname"] == ifname:
            return link
    raise AssertionError(f"no netdev {ifname} on {host.name}")


def _on_kernel(nic: dict) -> str:
    if not nic.get("netdev"):
        pytest.fail(f"{nic['address']} has no netdev on its kernel driver ({nic.get('driver')})", pytrace=False)
    return nic["netdev"]


@pytest.mark.nic_feature("kernel_path", needs=("peer",))
def test_ethtool_reports_the_driver_and_limits_and_reads_evidence(feature, host, nic, nic_profile,
                                                                 record_property):
    ifname = _on_kernel(nic)
    info = _ethtool(host, ifname, "i")
    feature.expect(info["rc"] == 0, f"ethtool -i {ifname}: {info['stderr'].strip()}")
    driver, family = info["info"].get("driver"), nic_profile.data["model"]
    record_property("kernel_driver", f"{driver} {info['info'].get('version', '')}".strip())
    feature.expect(driver == family, f"ethtool -i {ifname} names driver {driver!r}, the profile's model is {family!r}")
    for what in ("k", "g"):
        res = _ethtool(host, ifname, what)
        feature.expect(res["rc"] == 0, f"ethtool -{what} {ifname}: {res['stderr'].strip()}")
    channels = _ethtool(host, ifname, "l")
    if channels["rc"] == 0:
        queues = nic_profile.data.get("queues") or {}
        current = channels["limits"]["current"]
        record_property("channels", str(current))
        for key, limit in (("rx", queues.get("rx")), ("tx", queues.get("tx")),
                           ("combined", min(queues.values()) if queues else None)):
            if limit is not None and key in current:
                feature.expect(current[key] <= limit, f"{ifname} runs {current[key]} {key} channels, the profile "
                                                      f"promises {limit} queues")
    else:
        record_property("channels", f"not reported: {channels['stderr'].strip()}")
    for what, name in (("d", "register dump"), ("e", "EEPROM")):
        res = _ethtool(host, ifname, what)
        feature.expect(res["rc"] == 0 and res["stdout"].strip(),
                       f"ethtool -{what} {ifname} ({name}): rc {res['rc']}: {res['stderr'].strip()}")
    if info["info"].get("supports-test") == "yes":
        res = host.call("ethtool_test", ifname=ifname, mode="offline")
        allure.attach(res["stdout"] + res["stderr"], f"ethtool -t {ifname} offline", allure.attachment_type.TEXT)
        record_property("ethtool_offline_test", "PASS" if res["rc"] == 0 else "FAIL")
        if feature.params.get("self_test", True):
            feature.expect(res["rc"] == 0 and "PASS" in res["stdout"],
                           f"ethtool -t {ifname} offline: rc {res['rc']}: {res['stdout'].strip()[-400:]}")
        else:   # the profile does not promise it: recorded and attached above, not asserted
            record_property("ethtool_offline_test_claimed", "no: kernel_path.self_test false")
    else:
        record_property("ethtool_offline_test", "not supported by the driver")


@pytest.mark.datapath
@pytest.mark.nic_feature("kernel_path", needs=("peer",))
def test_mtu_change_carries_traffic_and_is_restored(feature, host, nic, peer, nic_profile, record_property):
    ifname, peer_if = _on_kernel(nic), _on_kernel(peer)
    mine, theirs = _link(host, ifname), _link(host, peer_if)
    max_frame = (nic_profile.data.get("mtu") or {}).get("max_frame")
    if max_frame:   # up to what the profile promises and both drivers take
        mtu = min(m for m in (mine.get("max_mtu"), theirs.get("max_mtu"), max_frame - ETH_OVERHEAD) if m)
        if mtu <= mine["mtu"]:
            pytest.skip(f"{NOT_TESTABLE}{ifname} and {peer_if} take no MTU above {mine['mtu']}")
    else:           # no jumbo frames promised: the change goes down, which every driver takes
        mtu = min(SMALLER_MTU, mine["mtu"] - 1)
        if mtu < max(mine.get("min_mtu") or 68, theirs.get("min_mtu") or 68):
            pytest.skip(f"{NOT_TESTABLE}{ifname} and {peer_if} take no MTU below {mine['mtu']}")
    record_property("kernel_mtu", mtu)
    try:
        host.call("netdev_set_mtu", ifname=ifname, mtu=mtu)
        host.call("netdev_set_mtu", ifname=peer_if, mtu=mtu)
        res = host.call("kernel_path_check", local_if=ifname, peer_if=peer_if, ping_size=mtu - IP_ICMP)
        allure.attach(str(res), f"kernel path at MTU {mtu}", allure.attachment_type.TEXT)
        feature.expect(res["peer_back"], f"{peer_if} did not come back from its network namespace")
        feature.expect(res["ping_nic_to_peer_ok"] and res["ping_peer_to_nic_ok"],
                       f"MTU {mtu}: unfragmented pings of {mtu} B: {ifname} -> {peer_if} rc "
                       f"{res['ping_nic_to_peer']['rc']}, {peer_if} -> {ifname} rc {res['ping_peer_to_nic']['rc']}")
    finally:
        host.call("netdev_set_mtu", ifname=ifname, mtu=mine["mtu"])
        host.call("netdev_set_mtu", ifname=peer_if, mtu=theirs["mtu"])
    feature.expect(_link(host, ifname)["mtu"] == mine["mtu"] and _link(host, peer_if)["mtu"] == theirs["mtu"],
                   f"MTUs not restored to {mine['mtu']} / {theirs['mtu']}")


def _restore_features(host, ifname: str, before: dict, passes: int = 3) -> list:
    """Every changeable feature back as it was (a toggle also moves its dependants: TSO off
    turns its sub-features off, TSO on may turn them on): set what differs, read again.
    Returns what still differs."""
    changed: list = []
    for _ in range(passes):
        now = host.call("ethtool_query", ifname=ifname, what="k")["features"]
        changed = [n for n, f in before.items() if not f["fixed"] and n in now and now[n]["on"] != f["on"]]
        if not changed:
            return []
        for name in changed:   # one at a time: a feature the driver refuses does not block the rest
            host.call("ethtool_set_features", ifname=ifname, features={name: before[name]["on"]})
    return changed


@pytest.mark.nic_feature("kernel_path", needs=("peer",))
def test_offload_toggles_take_effect_and_are_restored(feature, host, nic, record_property):
    ifname = _on_kernel(nic)
    before = _ethtool(host, ifname, "k")["features"]
    toggles = [name for name in TOGGLES if name in before and not before[name]["fixed"]]
    if not toggles:
        pytest.skip(f"{NOT_TESTABLE}{ifname} offers no toggleable offload of {', '.join(TOGGLES)}")
    record_property("offloads_toggled", ",".join(toggles))
    wrong = []
    try:
        for name in toggles:
            want = not before[name]["on"]
            res = host.call("ethtool_set_features", ifname=ifname, features={name: want})
            now = host.call("ethtool_query", ifname=ifname, what="k")["features"]
            if res["rc"] != 0 or now[name]["on"] != want:
                wrong.append(f"{name} -> {'on' if want else 'off'}: rc {res['rc']} {res['stderr'].strip()}, "
                             f"reads {'on' if now[name]['on'] else 'off'}")
            host.call("ethtool_set_features", ifname=ifname, features={name: before[name]["on"]})
    finally:
        changed = _restore_features(host, ifname, before)
    feature.expect(not wrong, f"ethtool -K {ifname} did not take effect: " + "; ".join(wrong))
    feature.expect(not changed, f"{ifname} offloads not restored: {', '.join(changed)}")
