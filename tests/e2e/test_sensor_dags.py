"""End to end with dag.test(): sensors_minutely for one minute and sensors_daily for one day, against a real
Postgres and a real share folder."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from domotic.sensors.names import sensor_name
from tests.fixtures.sensors import T0, fill_share, payload, write

REPO_DAGS = __import__("pathlib").Path(__file__).resolve().parents[2] / "dags"


def load_dag(dag_id):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


@pytest.fixture
def folders(tmp_path, monkeypatch, warehouse):
    share, bronze = tmp_path / "share", tmp_path / "bronze"
    share.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(share))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(bronze))
    monkeypatch.setenv("AIRFLOW_VAR_SENSOR_WAIT_SECONDS", "2")
    return {"share": share, "bronze": bronze, "conninfo": warehouse["conninfo"]}


def asset_extras(airflow_home):
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        return [orjson.loads(extra) for (extra,) in db.execute("SELECT extra FROM asset_event ORDER BY id")]


def test_sensors_daily_one_day(airflow_db, folders):
    fill_share(folders["share"], minutes=90)
    # a file of the next day must not be picked up by this day's run
    nxt = datetime(2023, 9, 15, 0, 0, tzinfo=UTC)
    write(folders["share"], sensor_name("JimmyLoup", nxt), payload("JimmyLoup", nxt))
    before = len(asset_extras(airflow_db))
    run = load_dag("sensors_daily").test(logical_date=datetime(2023, 9, 14, tzinfo=UTC))
    assert run.state == "success"
    with psycopg.connect(folders["conninfo"]) as conn:
        assert conn.execute("SELECT count(*) FROM silver.file_manifest").fetchone()[0] == 180
        assert conn.execute("SELECT count(*) FROM silver.sensor_events").fetchone()[0] == 180 * 49
        assert conn.execute("SELECT min(\"timestamp\"), max(\"timestamp\") FROM silver.sensor_events").fetchone() == (
            T0, T0 + timedelta(minutes=89))
    extra = asset_extras(airflow_db)[before:]
    assert len(extra) == 1 and extra[-1]["window_start"] == T0.isoformat()
    assert extra[-1]["window_end"] == (T0 + timedelta(minutes=90)).isoformat()
    # A day that is one chunk is one task instance: reconcile_day loaded it, the mapped ingest_chunk is skipped.
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"reconcile_day": "success", "ingest_chunk": "skipped"}
    # Re-running the day changes nothing and emits no asset event (the load is skipped).
    assert load_dag("sensors_daily").test(logical_date=datetime(2023, 9, 14, tzinfo=UTC)).state == "success"
    with psycopg.connect(folders["conninfo"]) as conn:
        assert conn.execute("SELECT count(*) FROM silver.sensor_events").fetchone()[0] == 180 * 49
    assert len(asset_extras(airflow_db)) == before + 1


def test_sensors_daily_big_day_is_loaded_by_mapped_chunks(airflow_db, folders, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SENSOR_CHUNK_FILES", "100")  # 180 files in two hours: two chunks
    fill_share(folders["share"], minutes=90)
    before = len(asset_extras(airflow_db))
    run = load_dag("sensors_daily").test(logical_date=datetime(2023, 9, 14, tzinfo=UTC))
    assert run.state == "success"
    chunks = sorted((ti.map_index, ti.state) for ti in run.get_task_instances() if ti.task_id == "ingest_chunk")
    assert chunks == [(0, "success"), (1, "success")]
    with psycopg.connect(folders["conninfo"]) as conn:
        assert conn.execute("SELECT count(*) FROM silver.sensor_events").fetchone()[0] == 180 * 49
    # one event per chunk, none from reconcile_day, which only listed
    windows = sorted((e["window_start"], e["window_end"]) for e in asset_extras(airflow_db)[before:])
    assert windows == [(T0.isoformat(), (T0 + timedelta(minutes=60)).isoformat()),
                       ((T0 + timedelta(minutes=60)).isoformat(), (T0 + timedelta(minutes=90)).isoformat())]


def test_sensors_minutely_one_minute(airflow_db, folders):
    minute = T0 + timedelta(minutes=5)
    for handle in ("JimmyLoup", "JeremieVianin"):
        write(folders["share"], sensor_name(handle, minute), payload(handle, minute))
    run = load_dag("sensors_minutely").test(logical_date=minute + timedelta(minutes=1))
    assert run.state == "success"
    with psycopg.connect(folders["conninfo"]) as conn:
        rows = conn.execute("SELECT apartment, count(*) FROM silver.sensor_events GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("jeremie", 49), ("jimmy", 49)]
    assert (folders["bronze"] / "jimmy/2023/09/14/08" / sensor_name("JimmyLoup", minute)).is_file()


def test_sensors_minutely_missing_file_proceeds_without_failing(airflow_db, folders):
    minute = T0 + timedelta(minutes=9)
    write(folders["share"], sensor_name("JeremieVianin", minute), payload("JeremieVianin", minute))
    run = load_dag("sensors_minutely").test(logical_date=minute + timedelta(minutes=1))
    assert run.state == "success"
    sensor = next(ti for ti in run.get_task_instances() if ti.task_id == "wait_for_minute_files")
    assert sensor.state == "success"
    with psycopg.connect(folders["conninfo"]) as conn:
        rows = conn.execute("SELECT apartment, count(*) FROM silver.sensor_events GROUP BY 1").fetchall()
    assert rows == [("jeremie", 49)]
