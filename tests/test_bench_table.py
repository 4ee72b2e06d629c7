"""The README's benchmark table is generated from the committed reports/bench.json, and the
statistics behind it (median, percentiles, ratios of medians) are right."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nictest.bench import stats, table
from nictest.bench.runner import auto_notes

ROOT = Path(__file__).resolve().parent.parent


def test_readme_block_is_what_the_committed_bench_json_renders():
    data = json.loads((ROOT / "reports" / "bench.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert "## Benchmark" in readme
    assert table.current_block(readme) == table.render(data), (
        "README benchmark table is stale: run `nictest bench --table --update-readme`")


def test_committed_bench_json_has_all_four_groups_and_the_machine():
    data = json.loads((ROOT / "reports" / "bench.json").read_text())
    for group in ("datapath", "lifecycle", "controller", "parallel"):
        assert group in data, f"bench.json lacks the {group} group"
        assert data[group]["ok"] or data[group]["error"], group
    for key in ("controller_cpu", "controller_cores", "host_kernel", "accel", "date", "git_commit",
                "loadavg_start", "loadavg_end"):
        assert key in data["machine"], key


def test_replace_block_keeps_the_text_around_it():
    text = f"# t\n\n## Benchmark\n{table.BEGIN}\nold\n{table.END}\ntail\n"
    new = table.replace_block(text, "new | row")
    assert new == f"# t\n\n## Benchmark\n{table.BEGIN}\nnew | row\n{table.END}\ntail\n"
    assert table.current_block(new) == "new | row"


def test_replace_block_without_markers_names_the_fix():
    with pytest.raises(ValueError, match="bench:begin"):
        table.replace_block("# no markers\n", "x")


def test_percentile_interpolates_between_ranks():
    values = [4, 1, 3, 2]
    assert stats.percentile(values, 0) == 1
    assert stats.percentile(values, 100) == 4
    assert stats.percentile(values, 50) == 2.5
    assert stats.percentile(values, 25) == pytest.approx(1.75)
    assert stats.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def test_percentile_rejects_nonsense():
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1], 101)


def test_summary_gives_median_and_spread():
    s = stats.summary([10, 30, 20, 50, 40])
    assert s == {"n": 5, "median": 30, "min": 10, "max": 50, "q1": 20, "q3": 40}
    with pytest.raises(ValueError):
        stats.summary([])


def test_latency_summary_in_microseconds():
    s = stats.latency_summary([1000 * i for i in range(1, 101)])  # 1..100 us
    assert s["n"] == 100 and s["min_us"] == 1 and s["max_us"] == 100
    assert s["median_us"] == pytest.approx(50.5)
    assert s["p99_us"] == pytest.approx(99.01)
    with pytest.raises(ValueError):
        stats.latency_summary([])


def test_ratio_of_medians_and_missing_values():
    assert stats.ratio(300_000, 12_000) == 25
    assert stats.ratio(None, 1) is None
    assert stats.ratio(1, 0) is None


def _group_ok(datapath_ratio: float) -> dict:
    return {"datapath": {"ok": True, "ratios": {"64": {"pps_pmd_over_kernel": datapath_ratio}}}}


def test_auto_note_says_when_the_pmd_misses_the_goal():
    assert "below the goal" in auto_notes(_group_ok(3.0))[0]
    assert "below the goal" not in auto_notes(_group_ok(9.0))[0]
    assert auto_notes({"datapath": {"ok": False, "error": "x"}}) == []


def test_a_failed_group_shows_its_reason_in_the_table():
    data = json.loads((ROOT / "reports" / "bench.json").read_text())
    data["parallel"] = {"ok": False, "error": "InventoryError: no second host: pass --pair-host H2"}
    assert "failed: InventoryError: no second host: pass --pair-host H2" in table.render(data)


def test_phases_add_up_per_name(monkeypatch):
    from nictest.binding import phases as phases_mod
    clock = iter([10.0, 10.5, 11.0, 11.25])
    monkeypatch.setattr(phases_mod.time, "monotonic", lambda: next(clock))
    ph = phases_mod.Phases()
    ph.mark("journal")
    ph.mark("unbind")
    ph.mark("journal")
    assert ph.seconds == {"journal": 0.75, "unbind": 0.5}


def test_where_the_time_goes_lists_the_phases_largest_first():
    from nictest.bench.lifecycle import phase_medians
    runs = [{"checks": 0.05, "journal": 0.04, "round_trip": 0.01},
            {"checks": 0.07, "journal": 0.02, "round_trip": 0.03, "modprobe": 0.3},
            {"checks": 0.06, "journal": 0.03, "round_trip": 0.02}]
    medians = phase_medians(runs)
    assert medians == {"checks": 0.06, "journal": 0.03, "modprobe": 0.0, "round_trip": 0.02}
    lines = table.where_the_time_goes({"bind_phases_s": medians})
    assert lines == ["Where nictest's bind spends its time (median per phase): checks 60.0 ms, journal 30.0 ms, "
                     "round trip 20.0 ms, modprobe 0.0 ms."]


def test_the_settled_floor_row_shows_restore_against_the_floor_that_waits_for_udev():
    data = json.loads((ROOT / "reports" / "bench.json").read_text())
    life = data["lifecycle"]
    life["floor_restore_settled_s"] = stats.summary([0.30, 0.32, 0.34])
    life["ratios"]["restore_nictest_over_settled_floor"] = stats.ratio(life["nictest_restore_s"]["median"], 0.32)
    row = next(line for line in table.render(data).splitlines() if "udevadm settle" in line)
    assert "320.0 ms" in row
    assert f"{life['ratios']['restore_nictest_over_settled_floor']:.1f}x" in row
    del life["floor_restore_settled_s"]
    rows = [line for line in table.render(data).splitlines() if line.startswith("|")]
    assert not [row for row in rows if "udevadm settle" in row]  # a bench.json from before the settled floor


def test_the_bind_plus_restore_rows_sum_the_medians_against_each_floor():
    data = json.loads((ROOT / "reports" / "bench.json").read_text())
    life = data["lifecycle"]
    life["nictest_bind_s"] = stats.summary([0.15])
    life["nictest_restore_s"] = stats.summary([0.35])
    life["floor_bind_s"] = stats.summary([0.05])
    life["floor_restore_s"] = stats.summary([0.20])
    life["floor_restore_settled_s"] = stats.summary([0.30])
    life["ratios"]["bind_restore_nictest_over_floor"] = stats.ratio(0.5, 0.25)
    life["ratios"]["bind_restore_nictest_over_settled_floor"] = stats.ratio(0.5, 0.35)
    rows = [line for line in table.render(data).splitlines() if line.startswith("| bind + restore")]
    assert len(rows) == 2
    assert "| 500.0 ms | 250.0 ms | 2.0x | ≤ 1.5x |" in rows[0]
    assert "| 500.0 ms | 350.0 ms | 1.4x | – |" in rows[1]
    del life["ratios"]["bind_restore_nictest_over_floor"], life["floor_restore_settled_s"]
    assert not [line for line in table.render(data).splitlines() if line.startswith("| bind + restore")]
