"""weather_daily's fetch and load against a real SFTP server (asyncssh on loopback) and a real Postgres.

The server's host key is pinned in the connection extra ``host_key`` (checking stays on); one test shows an
unknown key being rejected. The task bodies' day-level functions (``domotic.weather.tasks.fetch_up_to`` and
``load_up_to``) are called directly; tests/e2e runs the tasks through dag.test().
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from domotic_dev import services

from domotic.errors import PermanentError
from domotic.generator.weather import write_forecast_files
from domotic.warehouse.migrations import apply as migrate
from domotic.weather.clean import DROP_REASONS
from domotic.weather.fetch import (
    FetchReport,
    RemoteDirectoryMissingError,
    SftpAuthenticationError,
    SftpHostKeyError,
    SftpUnavailableError,
)
from domotic.weather.load import LoadReport, asset_extra
from domotic.weather.tasks import fetch_up_to, load_up_to
from tests.fixtures.weather import SAMPLE_CSV, SAMPLE_ROWS, SAMPLE_STATS, SAMPLE_WIDE, at, sftp_conn_json

pytestmark = pytest.mark.integration

DAY = date(2023, 9, 1)
DAGS = Path(__file__).resolve().parents[2] / "dags"

OLDER_ISSUE_CSV = """Time,Value,Prediction,Site,Measurement,Unit
2023-09-01 01:00:00+00:00,11.0,00,Sion,PRED_T_2M_ctrl,°C
2023-09-01 01:00:00+00:00,8.0,00,"Aadorf / Tänikon",PRED_T_2M_ctrl,°C
2023-09-02 01:00:00+00:00,10.0,00,Sion,PRED_T_2M_ctrl,°C
"""


@dataclass
class Env:
    remote: Path  # the server's /Meteo2 on disk
    bronze: Path
    conn: psycopg.Connection
    conninfo: str

    def put(self, name: str, text: str, mtime: datetime | None = None) -> Path:
        path = self.remote / name
        path.write_text(text, encoding="utf-8")
        if mtime:
            os.utime(path, (mtime.timestamp(), mtime.timestamp()))
        return path

    def run(self, day: date = DAY) -> tuple[FetchReport, LoadReport]:
        fetched = fetch_up_to(day, remote_dir="/Meteo2", bronze_root=self.bronze)
        loaded = load_up_to(day, connect=lambda: psycopg.connect(self.conninfo), min_year=2023)
        return fetched, loaded

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        rows = self.conn.execute(sql, params).fetchall()
        self.conn.commit()
        return rows


@pytest.fixture
def env(sftp_server, warehouse, tmp_path, monkeypatch):
    remote = Path(sftp_server.extra["root"]) / "Meteo2"
    shutil.rmtree(remote, ignore_errors=True)
    remote.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server))
    monkeypatch.setenv("AIRFLOW_VAR_METEO_SFTP_PATH", "/Meteo2")
    with psycopg.connect(warehouse["conninfo"]) as conn:
        migrate(conn)
        yield Env(remote, tmp_path / "bronze", conn, warehouse["conninfo"])


def forecasts(env: Env, prediction_date: date = DAY) -> list[tuple]:
    rows = env.query(
        "SELECT site, measurement, prediction, timestamp, value, unit, is_outlier "
        "FROM silver.weather_forecasts WHERE prediction_date = %s",
        (prediction_date,),
    )
    return sorted(rows)


def clean_rows(env: Env) -> list[tuple]:
    return env.query(
        "SELECT timestamp, site, temperature_c, humidity_pct, precipitation_mm, radiation_wm2, "
        "is_outlier, prediction_date FROM silver.weather_clean ORDER BY timestamp, site"
    )


def manifest(env: Env) -> list[tuple]:
    return env.query(
        "SELECT source_name, status, is_current, bronze_path FROM silver.weather_file_manifest "
        "ORDER BY source_name, first_seen_at"
    )


def sftp_policy():
    """The retry policy weather_daily's fetch task really runs with."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "weather_daily.py"))
    assert bag.import_errors == {}
    return bag.dags["weather_daily"].get_task("fetch_new_files").retry_policy


# ------------------------------------------------------------------------------------- download & load


def test_day_file_downloaded_once_and_cleaned_to_exact_silver_rows(env):
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV)
    fetched, loaded = env.run()
    assert fetched.downloaded == ["Pred_2023-09-01.csv"]
    bronze_file = env.bronze / "weather/2023/09/01/Pred_2023-09-01.csv"
    assert bronze_file.read_text(encoding="utf-8") == SAMPLE_CSV

    assert forecasts(env) == sorted(SAMPLE_ROWS)  # sentinel as NULL, outliers flagged, duplicate resolved
    assert clean_rows(env) == [(*row, DAY) for row in SAMPLE_WIDE]
    stats = dict(
        env.query(
            "SELECT reason, rows FROM silver.weather_file_stats WHERE source_name = %s",
            ("Pred_2023-09-01.csv",),
        )
    )
    assert stats == SAMPLE_STATS
    assert manifest(env) == [("Pred_2023-09-01.csv", "loaded", True, str(bronze_file))]
    assert loaded.loaded == ["Pred_2023-09-01.csv"] and loaded.rows_loaded == 12
    assert asset_extra(loaded) == {"window_start": at(1).isoformat(), "window_end": at(8).isoformat()}


def test_second_run_downloads_nothing(env):
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV)
    env.run()
    bronze_file = env.bronze / "weather/2023/09/01/Pred_2023-09-01.csv"
    stamp = bronze_file.stat().st_mtime_ns
    fetched, loaded = env.run()
    assert fetched.downloaded == [] and fetched.unchanged == 1
    assert loaded.loaded == [] and asset_extra(loaded) is None
    assert bronze_file.stat().st_mtime_ns == stamp
    assert len(forecasts(env)) == 12


def test_changed_remote_file_is_downloaded_again_and_reloaded(env):
    t0 = datetime(2023, 9, 1, 6, 0, tzinfo=UTC)
    env.put("Pred_2023-08-31.csv", OLDER_ISSUE_CSV, t0)
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV, t0)
    env.run()
    assert clean_rows(env)[:2] == [(*SAMPLE_WIDE[0], DAY), (*SAMPLE_WIDE[1], DAY)]  # the newer issue wins

    # Re-delivery: Sion's 01:00 temperature corrected, the Aadorf row gone.
    corrected = SAMPLE_CSV.replace("01:00:00+00:00,14.2,00,Sion", "01:00:00+00:00,15.0,00,Sion").replace(
        '2023-09-01 03:00:00+02:00,9.5,00,"Aadorf / Tänikon",PRED_T_2M_ctrl,°C\n', ""
    )
    env.put("Pred_2023-09-01.csv", corrected, t0 + timedelta(hours=2))
    fetched, loaded = env.run()
    assert fetched.downloaded == ["Pred_2023-09-01.csv"]
    assert loaded.loaded == ["Pred_2023-09-01.csv"]

    expected = [r for r in SAMPLE_ROWS if r[0] == "Sion"]
    expected = [(*r[:4], 15.0, *r[5:]) if r[1:4] == ("PRED_T_2M_ctrl", 0, at(1)) else r for r in expected]
    assert forecasts(env) == sorted(expected)  # exactly the new version's rows
    wide = {(r[0], r[1]): r for r in clean_rows(env)}
    assert wide[(at(1), "Sion")][2] == 15.0
    # The key the re-delivery lacks falls back to the older issue instead of keeping stale values.
    assert wide[(at(1), "Aadorf / Tänikon")] == (
        at(1),
        "Aadorf / Tänikon",
        8.0,
        None,
        None,
        None,
        False,
        date(2023, 8, 31),
    )
    # Both versions stay in Bronze, side by side; the manifest keeps the history.
    day_dir = env.bronze / "weather/2023/09/01"
    assert len(list(day_dir.glob("Pred_2023-09-01*.csv"))) == 2
    assert (day_dir / "Pred_2023-09-01.csv").read_text(encoding="utf-8") == SAMPLE_CSV
    rows = [r for r in manifest(env) if r[0] == "Pred_2023-09-01.csv"]
    assert [(status, current) for _, status, current, _ in rows] == [("loaded", False), ("loaded", True)]
    assert asset_extra(loaded) == {"window_start": at(1).isoformat(), "window_end": at(8).isoformat()}

    # Touched on the server with the same content: downloaded to compare, but nothing is reloaded.
    os.utime(env.remote / "Pred_2023-09-01.csv", (t0.timestamp() + 9000, t0.timestamp() + 9000))
    fetched, loaded = env.run()
    assert fetched.touched == ["Pred_2023-09-01.csv"] and fetched.downloaded == [] and loaded.loaded == []
    assert env.run()[0].unchanged == 2


def test_older_issue_loaded_later_does_not_replace_newer_forecast(env):
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV)
    env.run()
    env.put("Pred_2023-08-31.csv", OLDER_ISSUE_CSV)  # a late delivery of an earlier day
    fetched, loaded = env.run()
    assert fetched.downloaded == ["Pred_2023-08-31.csv"] and loaded.loaded == ["Pred_2023-08-31.csv"]
    wide = {(r[0], r[1]): r for r in clean_rows(env)}
    assert wide[(at(1), "Sion")][2] == 14.2 and wide[(at(1), "Sion")][7] == DAY
    assert wide[(at(1) + timedelta(days=1), "Sion")][2:] == (10.0, None, None, None, False, date(2023, 8, 31))


def test_bronze_cleanup_does_not_trigger_downloads(env):
    files = write_forecast_files(env.remote, date(2023, 8, 30), 3, rows_scale=0.02)
    fetched, _ = env.run()
    assert len(fetched.downloaded) == 3
    shutil.rmtree(env.bronze)  # retention job, or compaction moving files elsewhere
    fetched, loaded = env.run()
    assert fetched.downloaded == [] and fetched.unchanged == 3 and loaded.loaded == []
    assert not env.bronze.exists()
    assert len(files) == 3


def test_files_issued_after_the_run_day_wait_for_their_run(env):
    write_forecast_files(env.remote, date(2023, 8, 31), 3, rows_scale=0.02)
    fetched, loaded = env.run(DAY)
    assert fetched.later == 1 and sorted(loaded.loaded) == ["Pred_2023-08-31.csv", "Pred_2023-09-01.csv"]
    fetched, loaded = env.run(DAY + timedelta(days=1))
    assert fetched.downloaded == ["Pred_2023-09-02.csv"] and loaded.loaded == ["Pred_2023-09-02.csv"]


def test_file_missing_a_column_is_quarantined_while_others_load(env):
    good = write_forecast_files(env.remote, date(2023, 8, 30), 2, seed=3, rows_scale=0.05)
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV.replace(",Unit\n", "\n", 1))
    env.put("README.txt", "not a forecast")
    fetched, loaded = env.run()
    assert sorted(fetched.downloaded) == ["Pred_2023-08-30.csv", "Pred_2023-08-31.csv", "Pred_2023-09-01.csv"]
    assert fetched.ignored == ["README.txt"]
    assert sorted(loaded.loaded) == ["Pred_2023-08-30.csv", "Pred_2023-08-31.csv"]
    assert list(loaded.quarantined) == ["Pred_2023-09-01.csv"]
    status = {
        name: (st, reason)
        for name, st, reason in env.query(
            "SELECT source_name, status, reason FROM silver.weather_file_manifest"
        )
    }
    assert status["Pred_2023-09-01.csv"][0] == "quarantined"
    assert "required column 'Unit' missing" in status["Pred_2023-09-01.csv"][1]
    assert status["README.txt"][0] == "ignored"
    assert forecasts(env, DAY) == []
    # Drop counts of a generated file are exactly what the generator injected.
    for f in good:
        stats = dict(
            env.query(
                "SELECT reason, rows FROM silver.weather_file_stats WHERE source_name = %s", (f.path.name,)
            )
        )
        for reason in (*DROP_REASONS, "sentinel_null", "outlier_flagged"):
            assert stats[reason] == f.injected[reason], (f.path.name, reason)
        assert stats["rows_read"] == f.rows
        assert len(forecasts(env, f.issue_date)) == stats["rows_loaded"]
    # Quarantined files are not retried every run; a corrected delivery is.
    assert env.run()[1].quarantined == {}
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV)
    assert env.run()[1].loaded == ["Pred_2023-09-01.csv"]


# ------------------------------------------------------------------------------------------- failures


def test_wrong_password_fails_at_once_without_retry(env, sftp_server, monkeypatch):
    from airflow.sdk import RetryAction

    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server, password="wrong"))
    env.put("Pred_2023-09-01.csv", SAMPLE_CSV)
    started = time.monotonic()
    with pytest.raises(SftpAuthenticationError, match="rejected the login of user 'meteo'") as err:
        fetch_up_to(DAY, remote_dir="/Meteo2", bronze_root=env.bronze)
    assert time.monotonic() - started < 5  # no connect retries with sleeps inside the task
    assert isinstance(err.value, PermanentError)
    decision = sftp_policy().evaluate(err.value, try_number=1, max_tries=4)
    assert decision.action == RetryAction.FAIL
    assert manifest(env) == []


def test_server_down_is_a_transient_error_that_retries(env, sftp_server, monkeypatch):
    from airflow.sdk import RetryAction

    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server, port=services.free_port()))
    started = time.monotonic()
    with pytest.raises(SftpUnavailableError, match="unreachable") as err:
        fetch_up_to(DAY, remote_dir="/Meteo2", bronze_root=env.bronze)
    assert time.monotonic() - started < 5
    assert isinstance(err.value, ConnectionError)
    decision = sftp_policy().evaluate(err.value, try_number=1, max_tries=4)
    assert decision.action == RetryAction.RETRY and decision.retry_delay is not None


def test_unknown_or_wrong_host_key_is_rejected(env, sftp_server, monkeypatch):
    import asyncssh
    from airflow.sdk import RetryAction

    # No pinned key (and the server is in no known_hosts): verification is on, so the server is refused.
    monkeypatch.setenv("AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server, host_key=""))
    with pytest.raises(SftpHostKeyError, match="host key unknown") as err:
        fetch_up_to(DAY, remote_dir="/Meteo2", bronze_root=env.bronze)
    assert sftp_policy().evaluate(err.value, try_number=1, max_tries=4).action == RetryAction.FAIL
    # A pinned key that is not the server's: refused too (a man in the middle looks like this).
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()
    monkeypatch.setenv(
        "AIRFLOW_CONN_METEO_SFTP", sftp_conn_json(sftp_server, host_key=f"{other[0]} {other[1]}")
    )
    with pytest.raises(SftpHostKeyError):
        fetch_up_to(DAY, remote_dir="/Meteo2", bronze_root=env.bronze)


def test_missing_remote_folder_fails_at_once(env):
    from airflow.sdk import RetryAction

    with pytest.raises(RemoteDirectoryMissingError, match="'/Nope' does not exist") as err:
        fetch_up_to(DAY, remote_dir="/Nope", bronze_root=env.bronze)
    assert sftp_policy().evaluate(err.value, try_number=1, max_tries=4).action == RetryAction.FAIL
