"""End to end with dag.test(): each maintenance DAG against a real Postgres and real folders, and sensors_daily
replaying compacted days into a fresh warehouse."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from domotic.generator.sensors import Faults, write_range
from domotic.sensors.load import list_share_day
from domotic.sensors.replay import replay_archived_day
from domotic.warehouse.migrations import apply as migrate
from tests.fixtures.maintenance import APARTMENTS, DAYS, SMALL, ingest, snapshot
from tests.fixtures.services import pg_conn_json

REPO_DAGS = Path(__file__).resolve().parents[2] / "dags"
RUN_DATE = datetime(2023, 11, 1, 3, tzinfo=UTC)  # a compaction run 47 days after DAYS


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def load_sensors_daily():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_DAGS / "sensors_daily.py"))
    assert bag.import_errors == {}
    return bag.dags["sensors_daily"]


def xcom(airflow_home: Path, run, task_id: str):
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        (value,) = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
            (run.dag_id, run.run_id, task_id)).fetchone()
    return json.loads(value) if isinstance(value, str | bytes) else value


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.fixture
def folders(warehouse, workdir, monkeypatch):
    paths = {name: workdir / name for name in ("share", "bronze", "backups")}
    for path in paths.values():
        path.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(paths["share"]))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(paths["bronze"]))
    monkeypatch.setenv("AIRFLOW_VAR_BACKUP_DIR", str(paths["backups"]))
    monkeypatch.setenv("AIRFLOW_VAR_BRONZE_COMPACTION_SETTLE_HOURS", "0")
    return {**paths, "conninfo": warehouse["conninfo"], "connect": lambda: psycopg.connect(warehouse["conninfo"])}


def test_compaction_dag_then_sensors_daily_replays_archived_days(airflow_db, folders, fresh_db, monkeypatch, pg_service):

    # Two days of sensor files on the share (faults included, no re-delivery: the share holds one version),
    # loaded as sensors_daily would, and a weather forecast file.
    write_range(folders["share"], *SMALL, Faults(corrupt_json=0.03, nulls=0.05, bad_datetime=0.02), seed=11,
                history_start=DAYS[0])
    with folders["connect"]() as conn:
        migrate(conn)
    for day in DAYS:
        listing = list_share_day(folders["share"], day)
        ingest(folders["connect"], folders["share"], folders["bronze"], listing.names + listing.bad_names)
    silver = snapshot(folders["connect"])
    weather_day = folders["bronze"] / "weather" / "2023" / "09" / "14"
    weather_day.mkdir(parents=True)
    (weather_day / "Pred_2023-09-14.csv").write_text("Time,Site,Value\n2023-09-14 00:00,Sion,12.5\n")

    run = load_dag("maintenance_bronze_compaction").test(logical_date=RUN_DATE)
    assert run.state == "success", states(run)
    summary = xcom(airflow_db, run, "compact_sensor_days")
    assert summary["days_by_action"] == {"archived": 4} and summary["files_kept"] == 0
    assert xcom(airflow_db, run, "compress_weather_files")["weather_files_compressed"] == 1
    archives = {p: p.read_bytes() for p in folders["bronze"].rglob("*.tar.gz")}
    assert len(archives) == 4
    assert [p for p in folders["bronze"].rglob("*.json")] == []
    assert (weather_day / "Pred_2023-09-14.csv.gz").is_file()

    # sensors_daily replays the archived days into a fresh warehouse (the share still holds the files).
    conninfo = fresh_db()
    monkeypatch.setenv("AIRFLOW_CONN_DOMOTIC_POSTGRES", pg_conn_json(pg_service, conninfo.rsplit("=", 1)[1]))
    for day in DAYS:
        replay = load_sensors_daily().test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))
        assert replay.state == "success", states(replay)
    assert snapshot(lambda: psycopg.connect(conninfo)) == silver

    # The copies it put back into Bronze are identical to archive members: the next compaction removes them
    # and leaves the archives byte for byte as they were.
    assert list(folders["bronze"].rglob("*.json"))
    again = load_dag("maintenance_bronze_compaction").test(logical_date=RUN_DATE)
    assert again.state == "success"
    assert xcom(airflow_db, again, "compact_sensor_days")["days_by_action"] == {"cleaned": 4}
    assert list(folders["bronze"].rglob("*.json")) == []
    assert {p: p.read_bytes() for p in folders["bronze"].rglob("*.tar.gz")} == archives
    # and every archived day still replays from Bronze alone.
    other = fresh_db()
    for apartment in APARTMENTS:
        for day in DAYS:
            replay_archived_day(lambda: psycopg.connect(other), folders["bronze"], apartment, day)
    assert snapshot(lambda: psycopg.connect(other)) == silver


def test_vacuum_dag(airflow_db, folders):

    with folders["connect"]() as conn:
        migrate(conn)
    run = load_dag("maintenance_vacuum").test(logical_date=RUN_DATE)
    assert run.state == "success", states(run)
    assert xcom(airflow_db, run, "list_big_tables")[0].startswith("VACUUM (ANALYZE) silver.")
    with folders["connect"]() as conn:
        for _ in range(50):  # cumulative statistics are flushed asynchronously
            conn.execute("SELECT pg_stat_clear_snapshot()")
            vacuumed = conn.execute(
                "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = 'silver' AND relname = 'sensor_readings'").fetchone()[0]
            if vacuumed:
                break
            __import__("time").sleep(0.1)
    assert vacuumed


def test_vacuum_dag_with_no_big_table_says_so_and_succeeds(airflow_db, folders):
    from domotic.maintenance.vacuum import NOTHING_TO_VACUUM

    with psycopg.connect(folders["conninfo"], autocommit=True) as conn:  # a warehouse without the big tables
        conn.execute("DROP SCHEMA silver, gold CASCADE")
    run = load_dag("maintenance_vacuum").test(logical_date=RUN_DATE)
    assert run.state == "success", states(run)
    assert xcom(airflow_db, run, "list_big_tables") == [NOTHING_TO_VACUUM]


def test_backup_dag(airflow_db, folders):
    old = folders["backups"] / "domotic_20231001.dump"
    old.write_bytes(b"an old dump")
    run = load_dag("maintenance_backup").test(logical_date=RUN_DATE)
    assert run.state == "success", states(run)
    dump = folders["backups"] / "domotic_20231101.dump"
    assert xcom(airflow_db, run, "dump_warehouse")["path"] == str(dump)
    subprocess.run(["pg_restore", "--list", str(dump)], check=True, capture_output=True)
    assert not old.exists() and xcom(airflow_db, run, "prune_old_backups") == [str(old)]
    roles = folders["backups"] / "domotic_20231101.roles.sql"
    assert sorted(os.listdir(folders["backups"])) == [dump.name, roles.name]
    assert "role_jimmy" in roles.read_text()  # what a new server needs before pg_restore (runbook §9)
    for path in (dump, roles):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_backup_to_a_read_only_folder_fails_at_once_with_the_real_cause(airflow_db, folders, monkeypatch,
                                                                        small_filesystem):
    backups = small_filesystem.make(8 * 1024 * 1024)
    small_filesystem.read_only(backups)
    monkeypatch.setenv("AIRFLOW_VAR_BACKUP_DIR", str(backups))
    run = load_dag("maintenance_backup").test(logical_date=RUN_DATE)
    assert run.state == "failed"
    dump = next(ti for ti in run.get_task_instances() if ti.task_id == "dump_warehouse")
    assert (dump.state, dump.try_number) == ("failed", 1)  # permanent: no retry for ~6 minutes
    with folders["connect"]() as conn:
        (message,) = conn.execute("SELECT message FROM ops.alerts WHERE kind = 'task_failure' AND task_id = "
                                  "'dump_warehouse'").fetchone()
    assert "StorageUnavailableError" in message and f"backup folder {backups}" in message
    assert "Read-only file system" in message and "unlink" not in message


def test_a_full_backup_folder_frees_itself_before_the_dump(airflow_db, folders, monkeypatch, small_filesystem):
    """Expired dumps go first when the folder cannot take a new one (pruning only after a successful dump
    would never run); the newest old dump stays."""
    backups = small_filesystem.make(4 * 1024 * 1024)
    expired, recent = backups / "domotic_20231001.dump", backups / "domotic_20231025.dump"
    expired.write_bytes(b"x" * (2 * 1024 * 1024))
    with pytest.raises(OSError, match="No space left"), recent.open("wb") as filler:
        while True:  # the rest of the filesystem
            filler.write(b"x" * 4096)
            filler.flush()
    monkeypatch.setenv("AIRFLOW_VAR_BACKUP_DIR", str(backups))
    run = load_dag("maintenance_backup").test(logical_date=RUN_DATE)
    assert run.state == "success", states(run)
    assert xcom(airflow_db, run, "dump_warehouse")["freed_before"] == [str(expired)]
    assert sorted(p.name for p in backups.iterdir()) == [
        recent.name, "domotic_20231101.dump", "domotic_20231101.roles.sql"]


def test_disk_report_dag_reports_and_alerts_on_low_space(airflow_db, folders, monkeypatch):
    apartment_day = folders["bronze"] / "jimmy" / "2023" / "09" / "14" / "08"
    apartment_day.mkdir(parents=True)
    (apartment_day / "14.09.2023 0800_JimmyLoup_received.json").write_text("{}")
    run = load_dag("maintenance_disk_report").test(logical_date=RUN_DATE)
    assert run.state == "success", states(run)
    report = xcom(airflow_db, run, "measure_disk_usage")
    assert report["bronze"]["jimmy"]["loose_files"] == 1 and "largest_tables" in report
    monkeypatch.setenv("AIRFLOW_VAR_DISK_FREE_MIN_GB", str(10**9))
    low = load_dag("maintenance_disk_report").test(logical_date=datetime(2023, 11, 2, 5, tzinfo=UTC))
    assert low.state == "failed"
    assert states(low) == {"measure_disk_usage": "success", "check_free_space": "failed"}
