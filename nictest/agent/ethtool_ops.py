"""Agent ops of the kernel path feature: `ethtool` queries and changes on a netdev, and its MTU.

Argv only, never a shell; the verbs are a fixed list (queries -i -k -l -g -d -e, the
offline self-test -t, feature toggles -K). Parsed views of -k (feature -> on/fixed), -l
and -g (current and maximum) come with the raw output, which the suites attach as evidence.
"""
from __future__ import annotations

from typing import Dict

from nictest.agent import commands
from nictest.agent.net_ops import ip, netdev_name
from nictest.agent.ops import op
from nictest.errors import RefusedError

QUERIES = {"i": "-i", "k": "-k", "l": "-l", "g": "-g", "d": "-d", "e": "-e"}


def run(argv: list, timeout: float = 60) -> dict:
    return commands.run(argv, timeout)


def parse_features(text: str) -> Dict[str, dict]:
    """`ethtool -k`: {name: {"on": bool, "fixed": bool}}."""
    out = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.strip().partition(":")
        words = rest.split()
        if name and words and words[0] in ("on", "off"):
            out[name] = {"on": words[0] == "on", "fixed": "[fixed]" in rest}
    return out


def parse_limits(text: str) -> Dict[str, Dict[str, int]]:
    """`ethtool -l` / `-g`: {"max": {field: n}, "current": {field: n}} (n/a fields left out)."""
    out: Dict[str, Dict[str, int]] = {"max": {}, "current": {}}
    section = None
    for line in text.splitlines():
        low = line.strip().lower()
        if low.startswith("pre-set maximums"):
            section = "max"
        elif low.startswith("current hardware settings"):
            section = "current"
        elif section and ":" in line:
            key, _, value = line.partition(":")
            if value.strip().isdigit():
                out[section][key.strip().lower()] = int(value.strip())
    return out


def parse_info(text: str) -> Dict[str, str]:
    info = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if v:
            info[k.strip()] = v.strip()
    return info


@op("ethtool_query", ifname=str, what=str)
def ethtool_query(agent, ifname, what) -> dict:
    if what not in QUERIES:
        raise RefusedError(f"ethtool query {what!r}: one of {', '.join(QUERIES)}")
    res = run(["ethtool", QUERIES[what], netdev_name(ifname)])
    if what == "i":
        res["info"] = parse_info(res["stdout"])
    elif what == "k":
        res["features"] = parse_features(res["stdout"])
    elif what in ("l", "g"):
        res["limits"] = parse_limits(res["stdout"])
    return res


@op("ethtool_test", ifname=str, mode=str)
def ethtool_test(agent, ifname, mode="offline") -> dict:
    if mode not in ("offline", "online"):
        raise RefusedError(f"ethtool -t mode {mode!r}: offline or online")
    return run(["ethtool", "-t", netdev_name(ifname), mode], timeout=120)


@op("ethtool_set_features", ifname=str, features=dict)
def ethtool_set_features(agent, ifname, features) -> dict:
    """`ethtool -K IF name on|off ...`; {name: bool}."""
    argv = ["ethtool", "-K", netdev_name(ifname)]
    for name, on in features.items():
        if not isinstance(name, str) or not name.replace("-", "").isalnum() or not isinstance(on, bool):
            raise RefusedError(f"feature {name!r}: {on!r}: want a feature name and true/false")
        argv += [name, "on" if on else "off"]
    return run(argv)


@op("netdev_set_mtu", ifname=str, mtu=int)
def netdev_set_mtu(agent, ifname, mtu) -> dict:
    ip("link", "set", "dev", netdev_name(ifname), "mtu", str(mtu))
    return {"ifname": ifname, "mtu": mtu}
