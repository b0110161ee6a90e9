"""gold_build: DAG structure (schedule on the three Silver assets or daily, backfill by day) and dag.test() end
to end against a real Postgres holding the Silver test dataset of tests/integration/test_gold.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from domotic import gold
from domotic.gold import ledger as gold_ledger
from tests.fixtures.gold import DAY2, snapshot

DAGS = Path(__file__).resolve().parents[2] / "dags"


def load_dag(monkeypatch=None, deadlines: bool = False):
    import os

    from airflow.dag_processing.dagbag import DagBag

    previous = os.environ.get("DOMOTIC_DEADLINES_ENABLED")
    os.environ["DOMOTIC_DEADLINES_ENABLED"] = "true" if deadlines else "false"
    try:
        bag = DagBag(dag_folder=str(DAGS / "gold_build.py"))
    finally:
        if previous is None:
            os.environ.pop("DOMOTIC_DEADLINES_ENABLED", None)
        else:
            os.environ["DOMOTIC_DEADLINES_ENABLED"] = previous
    assert bag.import_errors == {}
    return bag.dags["gold_build"]


def test_schedule_is_the_silver_assets_and_new_forecasts_or_a_daily_time_fallback():
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    dag = load_dag(deadlines=True)
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # any one of them triggers a run
    assert {asset.name for asset in condition.objects} == {"silver_sensor_readings", "silver_weather",
                                                           "silver_reference", "ml_predictions"}
    assert isinstance(dag.timetable.timetable, CronDataIntervalTimetable)
    assert dag.timetable.timetable.expression == "0 0 * * *"
    assert str(dag.timetable.timetable.timezone) == "UTC"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.deadline and dag.doc_md
    assert dag.default_args["retries"] >= 2


def test_task_graph():
    dag = load_dag()
    downstream = {task.task_id: set(task.downstream_task_ids) for task in dag.tasks}
    gates = {t for t in downstream if t.startswith("quality_gates.")}
    assert gates == {"quality_gates.energy_columns", "quality_gates.environment_columns",
                     "quality_gates.presence_columns", "quality_gates.health_columns",
                     "quality_gates.flags_consistent", "quality_gates.minute_counts_match_silver",
                     "quality_gates.keys_resolve"}
    assert "create_gold_tables" not in downstream  # no DDL per run: the schema is a deploy step
    assert downstream["plan_windows"] == {"build_gold"}
    assert downstream["build_gold"] == gates
    assert all(downstream[g] == {"publish"} for g in gates)
    build = dag.get_task("build_gold")
    assert build.autocommit is False
    assert build.sql == [gold.read_sql(name) for name in gold.BUILD_SQL]  # the .sql files, resolved at parse
    assert [o.name for o in dag.get_task("publish").outlets] == ["gold_star_schema"]
    assert {type(dag.get_task(g)).__name__ for g in gates} == {"SQLColumnCheckOperator", "SQLCheckOperator"}


def test_backfill_creates_one_run_per_utc_day():
    """What `airflow backfill create --dag-id gold_build --from-date D1 --to-date D2` plans (its dry run)."""
    from airflow.models.backfill import _get_info_list
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(load_dag()))
    assert serialized.timetable.periodic  # backfillable (an asset-only schedule is not)
    infos = _get_info_list(from_date=datetime(2023, 10, 27, tzinfo=UTC), to_date=datetime(2023, 10, 30, tzinfo=UTC),
                           reverse=False, dag=serialized)
    assert [i.logical_date for i in infos] == [datetime(2023, 10, d, tzinfo=UTC) for d in (27, 28, 29, 30)]
    # each run rebuilds the UTC day of its logical date
    assert [gold.plan_from_context({}, i.logical_date, {}).sensor for i in infos] == [
        [gold.day_window(i.logical_date.date())] for i in infos]


def asset_events(airflow_home: Path, name: str) -> list[dict]:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ?"
                          " ORDER BY e.id", (name,)).fetchall()
    return [orjson.loads(extra) for (extra,) in rows]


def test_dag_test_builds_the_day_and_passes_every_gate(airflow_db, make_db):
    info, reference = make_db(), make_db()  # the first is the domotic_postgres connection
    before = len(asset_events(airflow_db, "gold_star_schema"))
    run = load_dag().test(logical_date=datetime(2023, 10, 29, tzinfo=UTC))
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    with psycopg.connect(reference) as conn:
        gold.build(conn, gold.plan_for_day(DAY2).parameters(["Sion"]))
    assert snapshot(info) == snapshot(reference)
    with psycopg.connect(info) as conn:
        days = conn.execute("SELECT DISTINCT date_key FROM gold.fact_energy_minute").fetchall()
        assert days == [(20231029,)]
        windows = conn.execute("SELECT scope, window_start, window_end FROM gold.build_window ORDER BY 1").fetchall()
        start = datetime(2023, 10, 29, tzinfo=UTC)
        assert windows == [("sensor", start, start + timedelta(days=1)), ("weather", start, start + timedelta(days=1))]
        for table in ("fact_environment_minute", "fact_presence_minute", "fact_device_health_day",
                      "fact_weather_hour", "dim_datetime"):
            assert conn.execute(f"SELECT count(*) FROM gold.{table}").fetchone()[0] > 0, table
    events = asset_events(airflow_db, "gold_star_schema")[before:]
    assert events and events[-1]["window_start"] == "2023-10-29T00:00:00+00:00"
    assert events[-1]["window_end"] == "2023-10-30T00:00:00+00:00"


def test_dag_test_of_an_unrelated_day_builds_every_pending_change(airflow_db, make_db):
    """No triggering event at all (``airflow dags test`` of another day): the pending ledger changes are built
    too, claimed by this run, and a second run finds nothing left."""
    info = make_db()
    changed = (datetime(2023, 10, 28, 6, tzinfo=UTC), datetime(2023, 10, 28, 7, tzinfo=UTC))
    with psycopg.connect(info) as conn:
        gold_ledger.enqueue_rebuild(conn, "sensor", *changed, source="sensors_daily")
        # forecasts are 3-hourly from 01:00: 04:00 and 07:00 fall inside
        gold_ledger.enqueue_rebuild(conn, "weather", changed[0] - timedelta(hours=2), changed[1] + timedelta(hours=1),
                                    source="weather_daily")
    run = load_dag().test(logical_date=datetime(2023, 10, 25, tzinfo=UTC))  # a day without Silver rows
    assert run.state == "success"
    with psycopg.connect(info) as conn:
        # every minute of the changed hour (beside them only the first readings after each window, which are
        # measured against the window's readings: 10-28 00:00 after the empty day 10-25, and 07:00)
        minutes = conn.execute("SELECT count(DISTINCT datetime_key) FROM gold.fact_environment_minute"
                               " WHERE datetime_key / 100 = 2023102806").fetchone()[0]
        silver = conn.execute("SELECT count(DISTINCT ts) FROM silver.sensor_readings WHERE ts >= %s AND ts < %s",
                              changed).fetchone()[0]
        assert minutes == silver > 50
        weather = conn.execute("SELECT datetime_key FROM gold.fact_weather_hour ORDER BY 1").fetchall()
        assert weather == [(202310280400,), (202310280700,)]
        absorbed = conn.execute("SELECT run_id, scope, changes, sources FROM silver.gold_ledger_absorbed"
                                " ORDER BY scope").fetchall()
        assert absorbed == [(run.run_id, "sensor", 1, ["sensors_daily"]), (run.run_id, "weather", 1, ["weather_daily"])]
        assert gold_ledger.pending(conn).changes == 0


def test_a_failed_gate_fails_the_run(airflow_db, make_db, no_retries):
    info = make_db()
    with psycopg.connect(info) as conn:  # a reading off the minute grid: Silver and Gold minute counts differ
        conn.execute("INSERT INTO silver.sensor_readings (ts, value, series_id, file_id, is_outlier)"
                     " SELECT '2023-10-29 06:00:30+00', 5, series_id, 1, false FROM silver.sensor_series"
                     " WHERE apartment = 'jimmy' AND sensor_type = 'plug' AND field = 'power' LIMIT 1")
    run = load_dag().test(logical_date=datetime(2023, 10, 29, tzinfo=UTC))
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["build_gold"] == "success"
    assert states["quality_gates.minute_counts_match_silver"] == "failed"
    assert states["quality_gates.keys_resolve"] == "success"
    assert states["publish"] == "upstream_failed"


@pytest.fixture
def no_retries(monkeypatch):
    """Failures must surface at once under dag.test (the DAG's retries would wait for their delay)."""
    import domotic_airflow.dag_defaults as defaults

    original = defaults.default_args
    monkeypatch.setattr(defaults, "default_args", lambda **kw: original(**{"retries": 0, **kw}))
