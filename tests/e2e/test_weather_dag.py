"""weather_daily end to end with dag.test(): a real SFTP server (asyncssh, pinned host key) and a real Postgres.

The retry test drives Airflow's own retry machinery: dag.test() runs the fetch task, the refused connection
goes through the task's retry policy (RETRY, with DOMOTIC_SFTP_RETRY_DELAY_SECONDS=1 set before the DAG is
parsed), the task's on_retry_callback starts the server on the port the connection names, and dag.test()
runs try 2 once the retry delay has passed.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import psycopg
import pytest
from domotic_dev import services

from domotic.generator.weather import write_forecast_files
from tests.fixtures.weather import PASSWORD, USER, sftp_conn_json, stop_sftp

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parents[2] / "dags"
LOGICAL = datetime(2023, 9, 1, tzinfo=UTC)


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "weather_daily.py"))
    assert bag.import_errors == {}
    return bag.dags["weather_daily"]


def task_instances(run) -> dict:
    return {ti.task_id: ti for ti in run.get_task_instances()}


def asset_extras(airflow_home: Path) -> list[dict]:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        return [orjson.loads(extra) for (extra,) in db.execute("SELECT extra FROM asset_event ORDER BY id")]


@pytest.fixture
def meteo(sftp_server, warehouse, airflow_db, tmp_path, monkeypatch):
    remote = Path(sftp_server.extra["root"]) / "Meteo2"
    for old in remote.glob("*"):
        old.unlink()
    remote.mkdir(exist_ok=True)
    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server))
    monkeypatch.setenv("AIRFLOW_VAR_METEO_SFTP_PATH", "/Meteo2")
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(tmp_path / "bronze"))
    monkeypatch.setenv("DOMOTIC_SFTP_RETRY_DELAY_SECONDS", "1")  # read when the DAG file is parsed
    files = write_forecast_files(remote, date(2023, 8, 31), 3, seed=9, rows_scale=0.02)
    return {
        "remote": remote,
        "files": files,
        "conninfo": warehouse["conninfo"],
        "bronze": tmp_path / "bronze",
        "airflow_home": airflow_db,
    }


def silver_counts(conninfo: str) -> dict:
    with psycopg.connect(conninfo) as conn:
        return {
            "forecasts": dict(
                conn.execute(
                    "SELECT prediction_date, count(*) FROM silver.weather_forecasts GROUP BY 1 ORDER BY 1"
                ).fetchall()
            ),
            "clean": conn.execute(
                "SELECT count(*), max(prediction_date) FROM silver.weather_clean"
            ).fetchone(),
            "loaded": dict(
                conn.execute(
                    "SELECT source_name, rows_loaded FROM silver.weather_file_manifest "
                    "WHERE status = 'loaded'"
                ).fetchall()
            ),
        }


def test_dag_test_one_day_fills_both_silver_tables(meteo):
    before = len(asset_extras(meteo["airflow_home"]))
    run = load_dag().test(logical_date=LOGICAL)
    assert run.state == "success"
    assert {k: ti.state for k, ti in task_instances(run).items()} == {
        "fetch_new_files": "success",
        "load_new_files": "success",
    }
    counts = silver_counts(meteo["conninfo"])
    # Issued up to 2023-09-01: the files of 08-31 and 09-01; 09-02 waits for its own run.
    assert set(counts["loaded"]) == {"Pred_2023-08-31.csv", "Pred_2023-09-01.csv"}
    assert counts["forecasts"] == {
        date(2023, 8, 31): counts["loaded"]["Pred_2023-08-31.csv"],
        date(2023, 9, 1): counts["loaded"]["Pred_2023-09-01.csv"],
    }
    sites, steps = 2, 48  # rows_scale 0.02 -> Sion and Aadorf / Tänikon; 6 days of 3-hourly steps
    assert counts["clean"] == (sites * (steps + 8), date(2023, 9, 1))  # 09-01's 48 steps + 08-31's first day
    assert (meteo["bronze"] / "weather/2023/09/01/Pred_2023-09-01.csv").is_file()
    extras = asset_extras(meteo["airflow_home"])[before:]
    assert extras == [
        {"window_start": "2023-08-31T01:00:00+00:00", "window_end": "2023-09-06T23:00:00+00:00"}
    ]

    # Re-running the day downloads and loads nothing, and emits no asset event (the load is skipped).
    again = load_dag().test(logical_date=LOGICAL)
    assert again.state == "success"
    assert task_instances(again)["load_new_files"].state == "skipped"
    assert silver_counts(meteo["conninfo"]) == counts
    assert len(asset_extras(meteo["airflow_home"])) == before + 1


def test_server_down_for_the_first_try_and_up_for_the_retry(meteo, sftp_server, monkeypatch):
    port = services.free_port()  # nothing listens here yet: connection refused
    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server, port=port))
    dag = load_dag()
    started: list[services.Service] = []

    def bring_server_up(context) -> None:
        # Same root and host key file as the module's server, so the pinned key matches.
        started.append(
            services.start_sftp(Path(sftp_server.extra["root"]), user=USER, password=PASSWORD, port=port)
        )

    dag.get_task("fetch_new_files").on_retry_callback = [bring_server_up]
    try:
        run = dag.test(logical_date=LOGICAL)
    finally:
        for svc in started:
            stop_sftp(svc)
    assert len(started) == 1  # exactly one retry was needed
    fetch = task_instances(run)["fetch_new_files"]
    assert (run.state, fetch.state, fetch.try_number) == ("success", "success", 2)
    assert set(silver_counts(meteo["conninfo"])["loaded"]) == {"Pred_2023-08-31.csv", "Pred_2023-09-01.csv"}


def test_wrong_password_fails_at_once_with_no_retry(meteo, sftp_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server, password="not-the-password"))
    dag = load_dag()
    assert dag.get_task("fetch_new_files").retries == 3
    run = dag.test(logical_date=LOGICAL)
    tis = task_instances(run)
    assert run.state == "failed"
    # The retry policy said FAIL: one try although three retries are configured.
    assert (tis["fetch_new_files"].state, tis["fetch_new_files"].try_number) == ("failed", 1)
    assert tis["load_new_files"].state == "upstream_failed"
    assert silver_counts(meteo["conninfo"])["loaded"] == {}
