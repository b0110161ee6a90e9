"""End to end with dag.test(): mysql_snapshot_weekly against a real MariaDB (loaded from the fixture dump, read
by an account limited to the allow-list) and a real Postgres."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest

from domotic_airflow.assets import SILVER_REFERENCE
from tests.fixtures.pidb import SILVER_NAMES, drop_pidb, make_pidb

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "mysql_snapshot_weekly"
MONDAY = datetime(2023, 10, 30, tzinfo=UTC)


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{DAG_ID}.py"))
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def asset_events(airflow_home: Path) -> list[tuple[int, dict]]:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        return [(event_id, orjson.loads(extra)) for event_id, extra in db.execute(
            """SELECT e.id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id
               WHERE a.name = ? ORDER BY e.id""", (SILVER_REFERENCE.name,))]


@pytest.fixture
def pidb(mariadb_service, monkeypatch):
    db = make_pidb(mariadb_service)
    monkeypatch.setenv("AIRFLOW_CONN_PIDB_MYSQL", db.conn_json())
    yield db
    drop_pidb(db)


def test_dag_shape():
    dag = load_dag()
    assert set(dag.task_dict) == {"snapshot_pidb"}  # no DDL per run: the schema is a deploy step
    assert [o.name for o in dag.task_dict["snapshot_pidb"].outlets] == [SILVER_REFERENCE.name]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.default_args["retries"] >= 2
    assert dag.doc_md and "pidb_mysql" in dag.doc_md


def test_dag_test_fills_silver_and_emits_the_reference_asset(airflow_db, pidb, warehouse):
    before = len(asset_events(airflow_db))
    run = load_dag().test(logical_date=MONDAY)
    assert run.state == "success"
    with psycopg.connect(warehouse["conninfo"]) as conn:
        for source, target in SILVER_NAMES.items():
            assert conn.execute(f'SELECT count(*) FROM silver."{target}"').fetchone()[0] == pidb.count(source)
        assert conn.execute("SELECT count(*) FROM silver.di_errors_clean").fetchone()[0] == pidb.count(
            "dierrors", "WHERE creationDate IS NOT NULL")
        assert conn.execute(
            "SELECT count(*), count(DISTINCT snapshot_id) FROM silver.mysql_snapshot_log WHERE status = 'swapped'"
        ).fetchone() == (10, 1)
        assert conn.execute("SELECT DISTINCT airflow_run_id FROM silver.mysql_snapshot_log").fetchone()[0] == run.run_id
    events = asset_events(airflow_db)[before:]
    assert len(events) == 1
    assert events[0][1]["row_counts"]["dim_rooms"] == 11

    # A second run replaces the snapshot: same rows, one more log entry per table.
    assert load_dag().test(logical_date=MONDAY.replace(day=31)).state == "success"
    with psycopg.connect(warehouse["conninfo"]) as conn:
        assert conn.execute("SELECT count(*) FROM silver.dim_rooms").fetchone()[0] == 11
        assert conn.execute("SELECT count(DISTINCT snapshot_id) FROM silver.mysql_snapshot_log").fetchone()[0] == 2


def test_dag_test_fails_at_once_naming_the_missing_table(airflow_db, pidb, warehouse):
    assert load_dag().test(logical_date=MONDAY).state == "success"
    before = len(asset_events(airflow_db))
    pidb.root_execute("DROP TABLE dierrors")

    run = load_dag().test(logical_date=MONDAY.replace(day=31))
    assert run.state == "failed"
    failed = {ti.task_id: ti for ti in run.get_task_instances()}["snapshot_pidb"]
    assert failed.state == "failed"
    assert failed.try_number == 1  # a permanent error: the retry policy does not retry it
    assert len(asset_events(airflow_db)) == before  # no asset event for a failed snapshot
    with psycopg.connect(warehouse["conninfo"]) as conn:
        assert conn.execute('SELECT count(*) FROM silver.log_sensor_errors').fetchone()[0] > 0
        table, message = conn.execute(
            "SELECT source_table, message FROM silver.mysql_snapshot_log WHERE status = 'failed'").fetchone()
        assert table == "dierrors" and message.startswith("missing upstream")
