"""The benchmark report's targets table: each issue target next to the measured figure, met or not."""

from __future__ import annotations

from domotic_dev.bench import Results
from domotic_dev.bench_report import _day_cost, _targets


def _silver(days: int, kind: str, seconds: float, files: int, peak: float) -> dict:
    return {"days": days, "kind": kind, "seconds": seconds, "files": files, "rows": files * 64,
            "peak_rss_mb": peak, "files_per_s": files / seconds, "rows_per_s": files * 64 / seconds}


def _table(lines: list[str]) -> dict[str, tuple[str, str]]:
    rows = [line.strip("|").split(" | ") for line in lines if line.startswith("| ") and "---" not in line]
    return {cells[0].strip(): (cells[2].strip(), cells[3].strip()) for cells in rows[1:]}


def test_targets_compare_measured_figures_with_the_issue_targets() -> None:
    results = Results(
        silver=[_silver(10, "cold", 4.0, 28_800, 58), _silver(10, "warm", 0.6, 28_800, 56),
                _silver(70, "cold", 40.0, 201_600, 610)],
        extra={"baseline": {"runs": [{"days": 10, "files": 28_800, "seconds": 36.0, "files_per_s": 800.0}]},
               "backfill": {"wall_s": 700.0, "failed": []}},
    )
    table = _table(_targets(results))
    assert table["Silver cold load, 10 days"] == ("7,200 files/s", "yes")
    assert table["re-run of those 10 days, nothing new"] == ("0.60 s", "yes")
    # the largest peak over all sizes counts
    assert table["peak memory of a loading process, any size"] == ("610 MB", "**no**")
    assert table["Silver vs the original-style loader, 10 day(s), same run"] == ("9.0×", "**no**")
    assert table["whole history through the scheduler (Silver and Gold, every source), empty to complete"] == (
        "11.7 min", "**no**")
    assert not any(what.startswith("Gold") for what in table)  # not measured in this run: not listed


def test_a_backfill_with_failed_runs_does_not_meet_its_target_however_fast() -> None:
    results = Results(extra={"backfill": {"wall_s": 200.0, "failed": [["sensors_daily", "backfill__x"]]}})
    table = _table(_targets(results))
    assert table["whole history through the scheduler (Silver and Gold, every source), empty to complete"] == (
        "3.3 min", "**no**")


def test_nothing_measured_gives_no_section() -> None:
    assert _targets(Results()) == []


def test_day_cost_compares_the_first_and_last_days_of_the_longest_cold_load() -> None:
    short = {**_silver(10, "cold", 4.0, 28_800, 58), "day_cpu_s": [0.5] * 10}
    longest = {**_silver(70, "cold", 40.0, 201_600, 150), "day_cpu_s": [0.8] * 10 + [0.9] * 50 + [1.0] * 10}
    warm = {**_silver(70, "warm", 12.0, 201_600, 150), "day_cpu_s": [0.1] * 70}
    text = " ".join(_day_cost(Results(silver=[short, longest, warm])))
    assert "70-day cold load" in text
    assert "**0.80 CPU-seconds** on average over the first 10 days and **1.00** over the last 10 (1.25×)" in text
    # results saved before the per-day costs were recorded give no paragraph rather than a wrong one
    assert _day_cost(Results(silver=[_silver(70, "cold", 40.0, 201_600, 150)])) == []
