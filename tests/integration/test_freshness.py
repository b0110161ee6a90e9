"""Data freshness check: stale only when sources deliver and Silver lags behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from domotic.freshness.checks import StaleDataError, check
from domotic.freshness.tasks import run_check
from domotic.sensors.names import sensor_name
from domotic.warehouse.migrations import apply as migrate

NOW = datetime(2023, 9, 14, 12, 0, 30, tzinfo=UTC)
LAG = timedelta(minutes=20)


@pytest.fixture
def conn(warehouse):
    with psycopg.connect(warehouse["conninfo"]) as connection:
        migrate(connection)
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


def test_gold_coverage_check_names_lost_days_and_stuck_work(warehouse, monkeypatch):
    """The guard against a Silver change Gold never absorbed (a lost asset event): days named, task fails."""
    from domotic.freshness.checks import GoldCoverageError
    from domotic.freshness.tasks import run_gold_coverage_check
    from domotic.gold import ledger as gold_ledger

    with psycopg.connect(warehouse["conninfo"]) as conn:
        migrate(conn)
        conn.execute("INSERT INTO silver.sensor_readings (ts, value, series_id, file_id, is_outlier)"
                     " VALUES ('2023-09-13 23:59+00', 1, 1, 1, false), ('2023-09-14 10:00+00', 1, 1, 1, false)")
        conn.commit()
    with pytest.raises(GoldCoverageError) as failed:
        run_gold_coverage_check(NOW)
    assert "2 Silver day(s) missing from Gold" in str(failed.value)
    assert "2023-09-13 (sensor), 2023-09-14 (sensor)" in str(failed.value)
    with psycopg.connect(warehouse["conninfo"]) as conn:  # a pending change covers both: Gold is only behind
        gold_ledger.enqueue_rebuild(conn, "sensor", datetime(2023, 9, 13, 23, 59, tzinfo=UTC),
                                    datetime(2023, 9, 14, 10, 1, tzinfo=UTC))
        recorded = conn.execute("SELECT recorded_at FROM silver.gold_ledger").fetchone()[0]
    result = run_gold_coverage_check(recorded + timedelta(minutes=5))
    assert result["lost"] == [] and result["missing"] == ["2023-09-13 (sensor, pending)",
                                                          "2023-09-14 (sensor, pending)"]
    monkeypatch.setenv("AIRFLOW_VAR_GOLD_MAX_PENDING_MINUTES", "30")  # ... until it waits too long
    with pytest.raises(GoldCoverageError, match=r"1 Silver change\(s\) pending for Gold since .* is gold_build"):
        run_gold_coverage_check(recorded + timedelta(minutes=31))
