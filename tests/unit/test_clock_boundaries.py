"""Where the wall clock may be read: only at the edges, so every rule below them takes its clock injected.

Pipeline code (``include/python/domotic``) never reads today's date or the current time itself: the task bodies
in the DAG files read the clock once and pass it down (``now=pendulum.now("UTC")``), and lower-level functions
take ``now``/``today``/``clock`` parameters (a default of the machine's clock is allowed only as such a
parameter's fallback, listed here). Runtime components whose job is real time (the sensor and its trigger
measuring a wait, the alert's "raised at") and the development tools (live benchmarks, demo) are edges too.
``scripts/test-clock.sh`` runs the fast suites with the clock moved to prove nothing else depends on it.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLOCK = re.compile(r"\b(date\.today\(\)|datetime\.now\(|datetime\.utcnow\(|time\.time\(\)|pendulum\.now\(|"
                   r"pendulum\.today\(|datetime\.today\()")

# file -> why it may read the clock (and how many times)
ALLOWED: dict[str, tuple[int, str]] = {
    "dags/data_freshness.py": (2, "task bodies pass the checks their clock"),
    "dags/maintenance_bronze_compaction.py": (2, "task bodies pass the maintenance jobs their clock"),
    "dags/maintenance_backup.py": (2, "task bodies pass the maintenance jobs their clock"),
    "dags/maintenance_disk_report.py": (1, "task bodies pass the maintenance jobs their clock"),
    "dags/ml_forecast_daily.py": (1, "the task stamps the models it trains (the registry's trained_at)"),
    "dags/mysql_snapshot_weekly.py": (1, "the task stamps the snapshot it takes"),
    "plugins/domotic_airflow/sensors.py": (2, "the sensor bounds a real wait"),
    "plugins/domotic_airflow/triggers.py": (1, "the trigger bounds a real wait"),
    "plugins/domotic_airflow/alerts.py": (1, "an alert says when it was raised and how late a run is"),
    "include/python/domotic/maintenance/backup.py": (1, "fallback of an injectable now= parameter"),
    "include/python/domotic/maintenance/compaction.py": (2, "fallback of an injectable now= parameter"),
    "include/python/domotic/maintenance/weather_files.py": (1, "fallback of an injectable now= parameter"),
    "include/python/domotic/reference/snapshot.py": (1, "fallback of the injectable taken_at= parameter"),
    "include/python/domotic/generator/live.py": (1, "default of the injectable clock= parameter"),
}
# devtools/domotic_dev (demo, benchmarks, local Airflow) is not scanned: real time by design.


def clock_reads() -> dict[str, int]:
    found: dict[str, int] = {}
    for folder in ("dags", "plugins", "include/python"):
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            hits = len(CLOCK.findall(path.read_text()))
            if hits:
                found[rel] = hits
    return found


def test_the_wall_clock_is_read_only_at_the_edges():
    found = clock_reads()
    unexpected = {rel: n for rel, n in found.items() if n > ALLOWED.get(rel, (0, ""))[0]}
    assert not unexpected, (
        f"the wall clock is read in {unexpected}: take it as a parameter (now=, today=, clock=) and let the task "
        "body pass it, or list the file in ALLOWED with the reason")


def test_the_allow_list_has_no_stale_entries():
    found = clock_reads()
    assert {rel: n for rel, (n, _) in ALLOWED.items()} == found
