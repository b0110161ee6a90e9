"""Hostile and broken inputs never stop a day (issue 17), end to end with dag.test(): a share holding every bad
entry seen in probes goes through sensors_daily, a minute with one bad file through sensors_minutely, and a
forecast folder of bad files through weather_daily over the real SFTP server. Each run succeeds, every good file
loads, each bad entry is recorded with its reason (or reported as skipped), and re-running changes nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from domotic.generator.weather import write_forecast_files
from domotic.sensors.names import sensor_name
from tests.fixtures.hostile import (
    SENSOR_MAX_FILE_BYTES,
    build_sensor_corpus,
    build_weather_corpus,
    replace_while_read,
    vanish_after_listing,
)
from tests.fixtures.sensors import T0, fill_share, payload, write
from tests.fixtures.weather import sftp_conn_json

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAY = datetime(2023, 9, 14, tzinfo=UTC)


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def xcoms(airflow_home: Path, run, task_id: str, key: str = "return_value") -> list:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute("SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? "
                          "AND key = ? ORDER BY map_index", (run.dag_id, run.run_id, task_id, key)).fetchall()
    return [json.loads(value) if isinstance(value, str | bytes) else value for (value,) in rows]


@pytest.fixture
def folders(tmp_path, monkeypatch, warehouse):
    share, bronze, outside = tmp_path / "share", tmp_path / "bronze", tmp_path / "outside"
    for folder in (share, outside):
        folder.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(share))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(bronze))
    monkeypatch.setenv("AIRFLOW_VAR_SENSOR_WAIT_SECONDS", "2")
    monkeypatch.setenv("AIRFLOW_VAR_SENSOR_MAX_FILE_BYTES", str(SENSOR_MAX_FILE_BYTES))
    return {"share": share, "bronze": bronze, "outside": outside, "conninfo": warehouse["conninfo"]}


def manifest(conninfo: str) -> dict[str, tuple]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT source_name, status, reason, checksum, bronze_path FROM silver.file_manifest "
                            "WHERE is_current").fetchall()
    return {name: rest for name, *rest in rows}


def test_a_hostile_share_never_stops_sensors_daily(airflow_db, folders, monkeypatch):
    share = folders["share"]
    good = fill_share(share, minutes=30)
    corpus = build_sensor_corpus(share, folders["outside"])
    replace_while_read(monkeypatch, share / corpus.replaced[0], corpus.replaced[1])
    vanish_after_listing(monkeypatch, share / corpus.vanishing)

    run = load_dag("sensors_daily").test(logical_date=DAY)
    assert run.state == "success", states(run)

    rows = manifest(folders["conninfo"])
    loaded = {name for name, (status, *_) in rows.items() if status == "loaded"}
    assert loaded == {*good, corpus.replaced[0]}  # every good file, and no hostile one
    import hashlib

    assert rows[corpus.replaced[0]][2] == hashlib.sha256(corpus.replaced[1]).hexdigest()  # the version read last
    for name, reason in corpus.quarantined.items():
        status, recorded, _, bronze_path = rows[name]
        assert status == "quarantined" and reason in recorded, (name, recorded)
        assert recorded.isprintable() and len(recorded) <= 600, name  # storable, one log line, bounded
        if "symbolic link" in reason or "not a regular" in reason or "sensor_max_file_bytes" in reason:
            assert bronze_path is None, name  # never copied: links are not followed, big files not read
    assert corpus.vanishing not in rows
    # the day is one chunk: reconcile_day loaded it (its XCom "loaded"), no ingest_chunk ran
    assert xcoms(airflow_db, run, "ingest_chunk") == []
    skipped = {name: why for summary in xcoms(airflow_db, run, "reconcile_day", "loaded") for name, why in
               summary["skipped"].items()}
    assert skipped == {corpus.vanishing: "vanished between listing and reading"}
    assert not list(folders["bronze"].rglob("*passwd*"))  # nothing from outside the share reached Bronze

    with psycopg.connect(folders["conninfo"]) as conn:
        # Only the good files' series: no room from a hostile file became a permanent series.
        assert conn.execute("SELECT count(*), count(DISTINCT apartment) FROM silver.sensor_series").fetchone() == (
            98, 2)
        assert conn.execute("SELECT count(*) FROM silver.sensor_events").fetchone()[0] == 61 * 49
        alert = conn.execute("SELECT subject, details::text FROM ops.alerts WHERE kind = 'sensor_cap'").fetchone()
    assert alert is not None and sorted(corpus.capped)[0] in alert[1]

    again = load_dag("sensors_daily").test(logical_date=DAY)
    assert again.state == "success", states(again)
    assert manifest(folders["conninfo"]) == rows  # quarantined once, not again


def test_one_bad_file_never_takes_down_the_other_apartment_of_its_minute(airflow_db, folders):
    minute = T0 + timedelta(minutes=5)
    bad = payload("JimmyLoup", minute)
    bad["plugs"]["Bad\x00Room"] = {"power": 1.0}
    write(folders["share"], sensor_name("JimmyLoup", minute), bad)
    write(folders["share"], sensor_name("JeremieVianin", minute), payload("JeremieVianin", minute))
    run = load_dag("sensors_minutely").test(logical_date=minute + timedelta(minutes=1))
    assert run.state == "success", states(run)
    rows = manifest(folders["conninfo"])
    assert rows[sensor_name("JeremieVianin", minute)][0] == "loaded"
    assert tuple(rows[sensor_name("JimmyLoup", minute)][:2]) == (
        "quarantined", "room name 'Bad\\x00Room' holds control characters")


def test_a_link_predicted_by_sensors_minutely_is_quarantined_not_followed(airflow_db, folders):
    minute = T0 + timedelta(minutes=7)
    (folders["share"] / sensor_name("JimmyLoup", minute)).symlink_to("/etc/passwd")
    write(folders["share"], sensor_name("JeremieVianin", minute), payload("JeremieVianin", minute))
    run = load_dag("sensors_minutely").test(logical_date=minute + timedelta(minutes=1))
    assert run.state == "success", states(run)
    rows = manifest(folders["conninfo"])
    assert rows[sensor_name("JeremieVianin", minute)][0] == "loaded"
    status, reason, _, bronze_path = rows[sensor_name("JimmyLoup", minute)]
    assert status == "quarantined" and "/etc/passwd" in reason and bronze_path is None


def test_hostile_forecast_files_never_stop_weather_daily(sftp_server, warehouse, airflow_db, tmp_path, monkeypatch):
    remote = Path(sftp_server.extra["root"]) / "Meteo2"
    remote.mkdir(exist_ok=True)
    for old in remote.glob("*"):
        old.unlink()
    good = [f.path for f in write_forecast_files(remote, date(2023, 8, 31), 2, seed=9, rows_scale=0.02)]
    corpus = build_weather_corpus(remote, good)
    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server))
    monkeypatch.setenv("AIRFLOW_VAR_METEO_SFTP_PATH", "/Meteo2")
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(tmp_path / "bronze"))
    monkeypatch.setenv("AIRFLOW_VAR_WEATHER_MAX_FILE_BYTES", str(corpus.max_bytes))

    run = load_dag("weather_daily").test(logical_date=datetime(2023, 9, 1, tzinfo=UTC))
    assert run.state == "success", states(run)
    with psycopg.connect(warehouse["conninfo"]) as conn:
        rows = {name: (status, reason) for name, status, reason in conn.execute(
            "SELECT source_name, status, reason FROM silver.weather_file_manifest WHERE is_current").fetchall()}
        loaded_dates = {d for (d,) in conn.execute("SELECT DISTINCT prediction_date FROM silver.weather_forecasts")}
    assert {name for name, (status, _) in rows.items() if status == "loaded"} == corpus.loaded
    assert loaded_dates == {date(2023, 8, 31), date(2023, 9, 1)}
    for name, reason in {**corpus.ignored, **corpus.quarantined}.items():
        expected = "ignored" if name in corpus.ignored else "quarantined"
        assert rows[name][0] == expected and reason in rows[name][1], (name, rows.get(name))
        assert rows[name][1].isprintable(), name
    assert not list((tmp_path / "bronze").rglob("*\n*"))  # no Bronze name with a newline

    again = load_dag("weather_daily").test(logical_date=datetime(2023, 9, 1, tzinfo=UTC))
    assert again.state == "success", states(again)
