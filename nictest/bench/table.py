"""The README's benchmark block, generated from bench.json (never written by hand).

`render(data)` is a pure function of the JSON, so a test can check that the README
block equals what the committed bench.json produces.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from nictest.bench.datapath import PMD_STREAMS
from nictest.hosts.mux import PERSIST_ENV

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def _pps(x: float) -> str:
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def _spread_pps(s: dict) -> str:
    return f"{_pps(s['median'])} ({_pps(s['min'])}–{_pps(s['max'])})"


def _sec(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def _spread_s(s: dict) -> str:
    return f"{_sec(s['median'])} ({_sec(s['min'])}–{_sec(s['max'])})"


def _us(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def _x(r: Optional[float]) -> str:
    return "–" if r is None else (f"{r:.3f}x" if r < 0.1 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x")


def _failed(group: dict) -> str:
    if not group:
        return "not run (--only)"
    return f"failed: {group.get('error', 'no result')}".replace("|", "/").replace("\n", " ")


def _machine(m: dict) -> str:
    return (f"Ran {m['date']} at commit `{m['git_commit'][:12]}` on {m['host']} (kernel {m['host_kernel']}, "
            f"accel {m['accel']}); controller {m['controller_cpu']}, {m['controller_cores']} cores, "
            f"load average {m['loadavg_start'][0]} at start, {m['loadavg_end'][0]} at end. "
            f"Total {data_total(m)}.")


def data_total(m: dict) -> str:
    return f"{m['total_seconds'] / 60:.1f} min" if m.get("total_seconds") is not None else "unknown"


def _datapath(g: dict) -> list:
    # PMD->PMD columns beyond the first: runs before a mode existed have no such column
    extra = [(key, threads, column) for key, _, threads, _, column in PMD_STREAMS[1:] if g["pps"].get(key)]
    fwd = bool(g.get("forward"))  # nor those before io forwarding
    lines = [f"Data path: {g['nic']} -> {g['peer']} ({g['driver']}), {g['reps']} repetitions per figure, "
             "median (min–max); pps = frames the receiver got per second; RTT = round trip in µs, "
             "median / p99 over all repetitions."
             + (" PMD→PMD checks every payload byte; its rate mode only sequence numbers." if extra else "")
             + (" With TX and RX threads, a C thread sends and another receives (one core per port, as "
                "testpmd)." if any(threads == 2 for _, threads, _ in extra) else "")
             + (" io forwarding: frames received on one port and sent out of the other, both directions, per "
                "second (testpmd's io mode)." if fwd else ""), "",
             "| size | kernel→kernel pps | PMD→PMD pps | " + "".join(f"{what} pps | " for _, _, what in extra)
             + "PMD→kernel pps | " + ("PMD io forwarding pps | " if fwd else "") + "PMD/kernel pps "
             "| kernel RTT med / p99 | PMD RTT med / p99 | kernel/PMD RTT med (p99) |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(extra) + ("---|" if fwd else "")]
    for size in g["sizes"]:
        s = str(size)
        k, p, m = (g["pps"][x][s]["rx_pps"] for x in ("kernel", "pmd", "mixed"))
        kl, pl, r = g["latency"]["kernel"][s], g["latency"]["pmd"][s], g["ratios"][s]
        extra_cells = "".join(f"{_spread_pps(g['pps'][key][s]['rx_pps'])} | " for key, _, _ in extra)
        fwd_cell = f"{_spread_pps(g['forward'][s]['pps'])} | " if fwd else ""
        lines.append(f"| {size} B | {_spread_pps(k)} | {_spread_pps(p)} | {extra_cells}{_spread_pps(m)} | "
                     f"{fwd_cell}**{_x(r['pps_pmd_over_kernel'])}** | {_us(kl['median_us'])} / {_us(kl['p99_us'])} | "
                     f"{_us(pl['median_us'])} / {_us(pl['p99_us'])} | **{_x(r['rtt_kernel_over_pmd'])}** "
                     f"({_x(r['p99_kernel_over_pmd'])}) |")
    return lines


def _peers(data: dict) -> list:
    """testpmd and dpdk-devbind.py beside nictest, when the run had --peers."""
    peers = data.get("peers")
    if peers is None:
        return []
    if not peers.get("ok"):
        return ["", f"Peers (DPDK): {_failed(peers)}"]
    r, dp = peers.get("ratios", {}), data.get("datapath", {})
    lines = ["", f"Peers, same run: testpmd {peers['testpmd']['mode']} ({peers['reps']} runs, Rx-pps over "
                 f"{peers['testpmd']['window_s']} s); dpdk-devbind.py -b {peers['driver']} and back.", "",
             "| figure | nictest | peer | nictest/peer | goal |", "|---|---|---|---|---|"]
    for size, fig in peers["testpmd"]["pps"].items():
        for path, _, _, what, _ in PMD_STREAMS:
            key = f"{path}_over_testpmd"
            mine = dp.get("pps", {}).get(path, {}).get(size) if dp.get("ok") else None
            if mine or path == "pmd":
                lines.append(f"| {size} B received pps, {what} vs testpmd | "
                             f"{_spread_pps(mine['rx_pps']) if mine else '–'} | {_spread_pps(fig['rx_pps'])} | "
                             f"{_x(r.get(f'{key}_{size}'))} | ≥ 1.0x |")
    for size, fig in peers.get("testpmd_io", {}).get("pps", {}).items():
        mine = dp.get("forward", {}).get(size) if dp.get("ok") else None
        primed = f", {mine['window']} frames primed per port" if mine else ""
        lines.append(f"| {size} B io forwarding pps (both directions{primed}) vs testpmd io | "
                     f"{_spread_pps(mine['pps']) if mine else '–'} | {_spread_pps(fig['rx_pps'])} | "
                     f"{_x(r.get(f'forward_over_testpmd_io_{size}'))} | ≥ 1.0x |")
    life = data.get("lifecycle", {})
    for what, key in (("bind", "bind_s"), ("restore", "restore_s")):
        mine = _spread_s(life[f"nictest_{key}"]) if life.get("ok") else "–"
        lines.append(f"| {what} one NIC vs dpdk-devbind.py | {mine} | {_spread_s(peers['devbind'][key])} | "
                     f"{_x(r.get(f'{what}_nictest_over_devbind'))} | – |")
    ctl = data.get("controller", {})
    for what, key, peer_key, goal in (("bind", "bind_cli_s", "bind_s", "≤ 0.5x"),
                                      ("unbind", "unbind_cli_s", "restore_s", "–")):
        mine = _spread_s(ctl[key]) if ctl.get("ok") and key in ctl else "–"
        lines.append(f"| `nictest {what}` end to end (CLI process, SSH, agent) vs dpdk-devbind.py on the host | "
                     f"{mine} | {_spread_s(peers['devbind'][peer_key])} | {_x(r.get(f'{what}_cli_over_devbind'))} "
                     f"| {goal} |")
    return lines


def where_the_time_goes(life: dict) -> list:
    """One line each for bind and restore: the median of each phase the agent timed, largest first."""
    lines = []
    for what, key in (("bind", "bind_phases_s"), ("restore", "restore_phases_s")):
        phases = life.get(key) or {}
        if phases:
            parts = ", ".join(f"{name.replace('_', ' ')} {_sec(s)}" for name, s in
                              sorted(phases.items(), key=lambda kv: -kv[1]))
            lines.append(f"Where nictest's {what} spends its time (median per phase): {parts}.")
    return lines


def _overhead_rows(data: dict) -> list:
    rows = []
    life, ctl, par = data.get("lifecycle", {}), data.get("controller", {}), data.get("parallel", {})
    if life.get("ok"):
        rows.append(f"| bind one NIC ({life['driver']}) | {_spread_s(life['nictest_bind_s'])} | "
                    f"{_spread_s(life['floor_bind_s'])} | {_x(life['ratios']['bind_nictest_over_floor'])} | ≤ 1.5x |")
        rows.append(f"| restore it ({life['kernel_driver']}) | {_spread_s(life['nictest_restore_s'])} | "
                    f"{_spread_s(life['floor_restore_s'])} | {_x(life['ratios']['restore_nictest_over_floor'])} "
                    "| ≤ 1.5x |")
        both = life["nictest_bind_s"]["median"] + life["nictest_restore_s"]["median"]
        if "bind_restore_nictest_over_floor" in life["ratios"]:
            rows.append(f"| bind + restore (sum of the medians) | {_sec(both)} | "
                        f"{_sec(life['floor_bind_s']['median'] + life['floor_restore_s']['median'])} | "
                        f"{_x(life['ratios']['bind_restore_nictest_over_floor'])} | ≤ 1.5x |")
        if "floor_restore_settled_s" in life:
            rows.append(f"| restore it, the floor waiting for udev too (`udevadm settle`, as nictest waits for "
                        f"its netdev's name) | {_spread_s(life['nictest_restore_s'])} | "
                        f"{_spread_s(life['floor_restore_settled_s'])} | "
                        f"{_x(life['ratios']['restore_nictest_over_settled_floor'])} | – |")
            if "bind_restore_nictest_over_settled_floor" in life["ratios"]:
                rows.append(f"| bind + restore, the floor waiting for udev too | {_sec(both)} | "
                            f"{_sec(life['floor_bind_s']['median'] + life['floor_restore_settled_s']['median'])} | "
                            f"{_x(life['ratios']['bind_restore_nictest_over_settled_floor'])} | – |")
    else:
        rows.append(f"| bind + restore | {_failed(life)} | | | ≤ 1.5x |")
    if ctl.get("ok"):
        rows.append(f"| agent call vs fresh `ssh host true` | {_spread_s(ctl['agent_call_s'])} | "
                    f"{_spread_s(ctl['fresh_ssh_s'])} | {_x(ctl['ratios']['agent_call_over_fresh_ssh'])} | < 0.02x |")
        if "status_cli_over_fresh_ssh" in ctl["ratios"]:
            rows.append(f"| `nictest status` end to end vs fresh `ssh host true` (first call of the run: "
                        f"{_sec(ctl['status_cli_first_s'])}) | {_spread_s(ctl['status_cli_s'])} | "
                        f"{_spread_s(ctl['fresh_ssh_s'])} | {_x(ctl['ratios']['status_cli_over_fresh_ssh'])} | ≤ 1.3x |")
        if "status_cli_direct_over_fresh_ssh" in ctl["ratios"]:
            rows.append(f"| `nictest status` with no kept connection ({PERSIST_ENV}=0: a handshake per call) | "
                        f"{_spread_s(ctl['status_cli_direct_s'])} | {_spread_s(ctl['fresh_ssh_s'])} | "
                        f"{_x(ctl['ratios']['status_cli_direct_over_fresh_ssh'])} | – |")
        rows.append(f"| `nictest status` vs reading its sysfs files | {_spread_s(ctl['status_cli_s'])} | "
                    f"{_spread_s(ctl['status_floor_s'])} | {_x(ctl['ratios']['status_cli_over_floor'])} | – |")
    else:
        rows.append(f"| controller | {_failed(ctl)} | | | < 0.02x |")
    if par.get("ok"):
        passed = "" if par["all_passed"] else " (some runs failed)"
        rows.append(f"| {' + '.join(par['suites'])} on 2 hosts with `-n 2` vs one host after the other{passed} | "
                    f"{_spread_s(par['parallel_s'])} | {_spread_s(par['serial_s'])} | "
                    f"{_x(par['ratios']['parallel_over_serial'])} | – |")
    else:
        rows.append(f"| parallel scaling (2 hosts) | {_failed(par)} | | | – |")
    return rows


def render(data: dict) -> str:
    """The Markdown between the markers, from bench.json's content."""
    lines = [_machine(data["machine"]), ""]
    dp = data.get("datapath", {})
    lines += _datapath(dp) if dp.get("ok") else [f"Data path: {_failed(dp)}"]
    lines += ["", "| overhead | nictest | floor | ratio | goal |", "|---|---|---|---|---|"]
    lines += _overhead_rows(data)
    life = data.get("lifecycle", {})
    for line in where_the_time_goes(life) if life.get("ok") else []:
        lines += ["", line]
    lines += _peers(data)
    for note in data.get("notes", []):
        lines += ["", note]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """`text` with the part between BEGIN and END replaced by `block`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} block in the README: add the two markers under '## Benchmark'")
    return text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:]


def current_block(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} block")
    return text[start + len(BEGIN): end].strip("\n")


def update_readme(readme: Path, data: dict) -> None:
    readme.write_text(replace_block(readme.read_text(), render(data)))
