"""apache/airflow#56050 through a real scheduler: Silver events that Airflow leaves undelivered while a gold_build
run is active do not cost Gold a day, because gold_build's work list is its own ledger.

The scenario of the issue: day 1 is loaded and announced; while a gold_build run is active (held inside its build
transaction, past the ledger claim, by a lock the test takes on one Gold table), days 2 and 3 are loaded and
announced 1.4 s apart. Airflow 3.3.2 creates the next run with only the events up to the first queued one and
deletes the queue row, so the third event can wait for an event that never comes. Every day must be in Gold
when the scheduler has nothing left to do.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from domotic_dev.airflow_local import LocalAirflow
from domotic_dev.services import create_warehouse, drop_database

from domotic.gold import ledger as gold_ledger
from domotic.sensors.load import load_bronze_files

DAYS = [date(2023, 10, 28), date(2023, 10, 29), date(2023, 10, 30)]


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture
def stack(pg_service, tmp_path):
    warehouse = f"domotic_ledger_{uuid.uuid4().hex[:8]}"
    meta = f"airflow_ledger_{uuid.uuid4().hex[:8]}"
    create_warehouse(pg_service, warehouse)
    info = f"host={pg_service.host} port={pg_service.port} user={pg_service.user} dbname={warehouse}"
    airflow = LocalAirflow(home=tmp_path / "airflow", meta=pg_service, meta_db=meta, extra_env={
        "AIRFLOW_CONN_DOMOTIC_POSTGRES": json.dumps({
            "conn_type": "postgres", "host": pg_service.host, "port": pg_service.port, "login": pg_service.user,
            "password": pg_service.password, "schema": warehouse}),
        "DOMOTIC_HISTORY_START": DAYS[0].isoformat(), "DOMOTIC_CATCHUP": "false",
    })
    try:
        airflow.reset_metadata()
        airflow.start(components=("api-server", "scheduler", "dag-processor"))
        airflow.wait_dags_parsed(["gold_build"])
        yield {"airflow": airflow, "info": info}
    finally:
        airflow.stop()
        drop_database(pg_service, warehouse)
        drop_database(pg_service, meta)


def _files_by_day(folder: Path) -> dict[date, list[str]]:
    from domotic.generator.sensors import write_range

    write_range(folder, _day_start(DAYS[0]), _day_start(DAYS[-1]) + timedelta(days=1), seed=9,
                history_start=DAYS[0])
    by_day: dict[date, list[str]] = {day: [] for day in DAYS}
    for path in sorted(folder.iterdir()):
        by_day[datetime.strptime(path.name[:10], "%d.%m.%Y").date()].append(str(path))
    return by_day


def _load_and_announce(stack, files: list[str], day: date) -> None:
    """What sensors_daily does for a day: load Silver (its ledger rows commit with it), then emit the event."""
    stats = load_bronze_files(lambda: psycopg.connect(stack["info"]), files)
    assert stats.files_loaded == len(files)
    stack["airflow"].post_asset_event("silver_sensor_readings", {
        "window_start": stats.window_start.isoformat(), "window_end": stats.window_end.isoformat(),
        "files_loaded": stats.files_loaded, "day": day.isoformat()})


def _wait(predicate, what: str, airflow: LocalAirflow, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            runs = airflow.query("SELECT r.run_id, r.run_type, r.state, string_agg(ti.task_id || '=' ||"
                                 " coalesce(ti.state, '-'), ', ') FROM dag_run r LEFT JOIN task_instance ti"
                                 " USING (dag_id, run_id) WHERE r.dag_id = 'gold_build' GROUP BY 1, 2, 3")
            pytest.fail(f"timed out after {seconds:.0f}s waiting for {what}; gold_build runs: {runs}")
        airflow.check_alive()
        time.sleep(0.5)


def test_every_announced_day_is_built_even_when_airflow_drops_events(stack, tmp_path):
    airflow = stack["airflow"]
    by_day = _files_by_day(tmp_path / "bronze")
    # Hold every build at its fact_weather_hour step (after its claim, before its commit): the run stays active.
    blocker = psycopg.connect(stack["info"])
    blocker.execute("LOCK TABLE gold.fact_weather_hour IN ACCESS EXCLUSIVE MODE")
    try:
        airflow.cli("dags", "unpause", "gold_build")
        _load_and_announce(stack, by_day[DAYS[0]], DAYS[0])

        def held_build() -> bool:
            with psycopg.connect(stack["info"]) as conn:
                return conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                                    " AND relation = 'gold.fact_weather_hour'::regclass").fetchone()[0] > 0

        _wait(held_build, "a gold_build run to be inside its build transaction", airflow)
        # Days 2 and 3 arrive while that run is active.
        _load_and_announce(stack, by_day[DAYS[1]], DAYS[1])
        time.sleep(1.4)
        _load_and_announce(stack, by_day[DAYS[2]], DAYS[2])
        assert airflow.query("SELECT count(*) FROM dag_run WHERE dag_id = 'gold_build' AND state = 'running'")[0][0]
    finally:
        blocker.rollback()
        blocker.close()

    def quiet() -> bool:
        busy = airflow.query("SELECT count(*) FROM dag_run WHERE dag_id = 'gold_build'"
                             " AND state IN ('queued', 'running')")[0][0]
        with psycopg.connect(stack["info"]) as conn:
            return busy == 0 and gold_ledger.pending(conn).changes == 0

    _wait(quiet, "gold_build to absorb every change", airflow)
    failed = airflow.query("SELECT run_id FROM dag_run WHERE dag_id = 'gold_build' AND state = 'failed'")
    assert failed == []
    with psycopg.connect(stack["info"]) as conn:
        assert gold_ledger.missing_gold_days(conn) == []
        days = conn.execute("SELECT DISTINCT date_key FROM gold.fact_device_health_day ORDER BY 1").fetchall()
        assert days == [(int(d.strftime("%Y%m%d")),) for d in DAYS]
        runs = [r[0] for r in conn.execute("SELECT DISTINCT run_id FROM silver.gold_ledger_absorbed")]
    # Which events Airflow handed to gold_build runs, for the record: the work did not depend on it.
    consumed = airflow.query(
        "SELECT count(DISTINCT e.id) FROM asset_event e JOIN dagrun_asset_event l ON l.event_id = e.id"
        " JOIN dag_run r ON r.id = l.dag_run_id WHERE r.dag_id = 'gold_build'")[0][0]
    print(f"asset events consumed by gold_build runs: {consumed} of 3; ledger absorbed by {sorted(runs)}")
