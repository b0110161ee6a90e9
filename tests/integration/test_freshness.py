"""Data freshness check: stale only when sources deliver and Silver lags behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from domotic.db import run_sql_files
from domotic.filenames import sensor_name
from domotic.freshness import StaleDataError, check, run_check
from domotic.sensor_load import SILVER_SENSOR_DDL

NOW = datetime(2023, 9, 14, 12, 0, 30, tzinfo=UTC)
LAG = timedelta(minutes=20)


@pytest.fixture
def conn(warehouse):
    with psycopg.connect(warehouse["conninfo"]) as connection:
        run_sql_files(connection, SILVER_SENSOR_DDL)
        yield connection


def loaded(conn, minute):
    conn.execute("INSERT INTO silver.file_manifest (source_name, apartment, file_ts, checksum, size_bytes, status)"
                 " VALUES (%s, 'jimmy', %s, 'x', 1, 'loaded')", (sensor_name("JimmyLoup", minute), minute))


def test_fresh_when_silver_keeps_up(conn, tmp_path):
    (tmp_path / sensor_name("JimmyLoup", NOW - timedelta(minutes=2))).write_text("{}")
    loaded(conn, NOW.replace(second=0) - timedelta(minutes=3))
    result = check(conn, tmp_path, NOW, LAG)
    assert result.sources_live and not result.stale


def test_stale_when_sources_live_and_silver_behind(conn, tmp_path, monkeypatch):
    (tmp_path / sensor_name("JeremieVianin", NOW - timedelta(minutes=1))).write_text("{}")
    loaded(conn, NOW - timedelta(minutes=45))
    result = check(conn, tmp_path, NOW, LAG)
    assert result.stale and result.newest_source_minute == NOW.replace(second=0) - timedelta(minutes=1)
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(tmp_path))
    with pytest.raises(StaleDataError, match="Silver is stale: newest Silver file minute"):
        run_check(NOW)


def test_silent_sources_are_not_stale_data(conn, tmp_path):
    loaded(conn, NOW - timedelta(hours=5))
    result = check(conn, tmp_path, NOW, LAG)
    assert not result.sources_live and not result.stale
    assert "sources silent" in result.describe()
