"""Gold's work ledger against a real Postgres: written with every Silver change (and only with it), claimed once,
kept pending by a killed build, rebuilt completely by a build that has no window of its own, and the coverage
guard that names a Silver day Gold lacks."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from domotic import gold
from domotic.gold import ledger as gold_ledger
from domotic.sensors.load import load_bronze_files
from domotic.warehouse.migrations import apply as migrate

DAY = date(2023, 10, 28)
START = datetime(2023, 10, 28, tzinfo=UTC)


@pytest.fixture
def silver(warehouse, tmp_path):
    """A warehouse with Silver and Gold tables and six generated hours of sensor files in a Bronze folder."""
    from domotic.generator.sensors import write_range

    info = warehouse["conninfo"]
    with psycopg.connect(info) as conn:
        migrate(conn)
    folder = tmp_path / "bronze"
    write_range(folder, START, START + timedelta(hours=6), seed=5, history_start=DAY)
    return {"info": info, "files": sorted(str(p) for p in folder.iterdir()),
            "connect": lambda: psycopg.connect(info)}


def ledger(info: str) -> list[tuple]:
    """The pending changes."""
    with psycopg.connect(info) as conn:
        return conn.execute("SELECT scope, window_start, window_end, source FROM silver.gold_ledger"
                            " ORDER BY change_id").fetchall()


def absorbed(info: str) -> list[tuple]:
    """What builds absorbed: (run id, scope, changes), per build and scope."""
    with psycopg.connect(info) as conn:
        return conn.execute("SELECT run_id, scope, changes FROM silver.gold_ledger_absorbed"
                            " ORDER BY absorbed_id").fetchall()


def build_pending(info: str, run_id: str = "test_run") -> list[tuple[str, float]]:
    with psycopg.connect(info) as conn:
        pending = gold_ledger.pending(conn)
        return gold.build(conn, gold.plan_from_context(None, None, None, pending, run_id).parameters(["Sion"]))


def gold_rows(info: str, with_xmin: bool = False) -> dict[str, tuple]:
    """Per Gold table: row count and digest; with_xmin adds each row's writing transaction (no row rewritten)."""
    row = "t::text || t.xmin::text" if with_xmin else "t::text"
    with psycopg.connect(info) as conn:
        return {table: conn.execute(f"SELECT count(*), md5(coalesce(string_agg({row}, '|' ORDER BY {row}"
                                    f" COLLATE \"C\"), '')) FROM gold.{table} t").fetchone()
                for table in gold.GOLD_TABLES}


def test_every_load_batch_records_its_window_in_the_same_transaction(silver):
    stats = load_bronze_files(silver["connect"], silver["files"][:240], batch_files=100)  # 3 batches
    rows = ledger(silver["info"])
    assert [r[0] for r in rows] == ["sensor"] * 3 and {r[3] for r in rows} == {"sensor_load"}
    assert min(r[1] for r in rows) == stats.window_start and max(r[2] for r in rows) == stats.window_end
    with psycopg.connect(silver["info"]) as conn:  # each batch's window holds exactly its readings' minutes
        for _, start, end, _ in rows:
            first, last = conn.execute("SELECT min(r.ts), max(r.ts) FROM silver.sensor_readings r"
                                       " JOIN silver.file_manifest m USING (file_id)"
                                       " WHERE r.ts >= %s AND r.ts < %s", (start, end)).fetchone()
            assert (first, last + timedelta(minutes=1)) == (start, end)
    # Re-loading the same files changes nothing in Silver: no new ledger row either.
    load_bronze_files(silver["connect"], silver["files"][:240], batch_files=100)
    assert len(ledger(silver["info"])) == 3


def test_a_rolled_back_load_leaves_no_ledger_row_and_a_failed_ledger_write_no_readings(silver):
    with psycopg.connect(silver["info"], autocommit=True) as conn:
        conn.execute("""CREATE FUNCTION silver.refuse() RETURNS trigger LANGUAGE plpgsql AS
                        $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$""")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON silver.file_manifest"
                     " FOR EACH STATEMENT EXECUTE FUNCTION silver.refuse()")
    with pytest.raises(psycopg.errors.RaiseException):
        load_bronze_files(silver["connect"], silver["files"][:50])
    assert ledger(silver["info"]) == []
    with psycopg.connect(silver["info"], autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON silver.file_manifest")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON silver.gold_ledger"
                     " FOR EACH STATEMENT EXECUTE FUNCTION silver.refuse()")
    with pytest.raises(psycopg.errors.RaiseException):
        load_bronze_files(silver["connect"], silver["files"][:50])
    with psycopg.connect(silver["info"]) as conn:
        assert conn.execute("SELECT count(*) FROM silver.sensor_readings").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM silver.file_manifest").fetchone()[0] == 0


def test_a_build_without_windows_of_its_own_builds_every_pending_change_as_a_full_build_does(silver):
    """Incremental (whatever the loads recorded) equals full: a full build of the day afterwards finds every
    row already right and rewrites none (the templates only write rows that differ)."""
    load_bronze_files(silver["connect"], silver["files"], batch_files=150)
    build_pending(silver["info"], "asset_triggered__1")
    incremental = gold_rows(silver["info"], with_xmin=True)
    assert incremental["fact_energy_minute"][0] > 0
    assert ledger(silver["info"]) == []
    assert absorbed(silver["info"]) == [("asset_triggered__1", "sensor", -(-len(silver["files"]) // 150))]
    with psycopg.connect(silver["info"]) as conn:
        assert gold_ledger.pending(conn).changes == 0
        gold.build(conn, gold.plan_for_day(DAY).parameters(["Sion"]))
    assert gold_rows(silver["info"], with_xmin=True) == incremental


def test_two_concurrent_claims_never_take_the_same_row(silver):
    load_bronze_files(silver["connect"], silver["files"][:300], batch_files=100)
    with psycopg.connect(silver["info"]) as conn:
        params = gold.plan_from_context(None, None, None, gold_ledger.pending(conn), "first").parameters()
    claim = gold.read_sql("gold/build/02_claim.sql")
    first, second = psycopg.connect(silver["info"]), psycopg.connect(silver["info"])
    try:
        first.execute(claim, params)  # holds its row locks: not committed yet
        second.execute(claim, {**params, "run_id": "second"})
        assert second.execute("SELECT count(*) FROM gold_claimed").fetchone()[0] == 0  # skipped, not waited
        assert first.execute("SELECT count(*) FROM gold_claimed").fetchone()[0] == 3
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    assert ledger(silver["info"]) == []


def test_a_build_killed_between_claim_and_commit_leaves_its_rows_pending(silver):
    load_bronze_files(silver["connect"], silver["files"], batch_files=200)
    with psycopg.connect(silver["info"]) as conn:
        pending = gold_ledger.pending(conn)
    params = gold.plan_from_context(None, None, None, pending, "killed").parameters(["Sion"])
    victim = psycopg.connect(silver["info"])
    pid = victim.info.backend_pid
    # Step through the build up to the claim, then hold inside the transaction as a slow template would.
    upto = gold.BUILD_SQL.index("gold/build/02_claim.sql") + 1
    for name in gold.BUILD_SQL[:upto]:
        victim.execute(gold.read_sql(name), params)
    assert victim.execute("SELECT count(*) FROM gold_claimed").fetchone()[0] == pending.changes
    holder = threading.Thread(target=lambda: _swallow(victim, "SELECT pg_sleep(30)"))
    holder.start()
    with psycopg.connect(silver["info"], autocommit=True) as admin:  # kill -9 of the build's session
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    holder.join(timeout=30)
    assert len(ledger(silver["info"])) == pending.changes  # all still pending
    assert absorbed(silver["info"]) == []
    build_pending(silver["info"], "rerun")
    assert ledger(silver["info"]) == []
    assert absorbed(silver["info"]) == [("rerun", "sensor", pending.changes)]
    with psycopg.connect(silver["info"]) as conn:
        assert gold_ledger.missing_gold_days(conn) == []


def _swallow(conn: psycopg.Connection, statement: str) -> None:
    try:
        conn.execute(statement)
    except psycopg.OperationalError:
        pass  # terminated, as intended
    finally:
        conn.close()


def test_absorption_records_are_pruned_after_their_retention_pending_changes_never(silver):
    with psycopg.connect(silver["info"]) as conn:
        for days_ago in (40, 10):
            conn.execute("INSERT INTO silver.gold_ledger_absorbed (absorbed_at, run_id, scope, changes,"
                         " first_change_id, last_change_id, first_recorded_at, sources)"
                         " VALUES (now() - make_interval(days => %s), %s, 'sensor', 1, 1, 1, now(), '{x}')",
                         (days_ago, f"old_{days_ago}"))
        start = START - timedelta(days=400)  # a change forgotten for a long time, outside this run's days
        conn.execute("INSERT INTO silver.gold_ledger (scope, window_start, window_end, source, recorded_at)"
                     " VALUES ('sensor', %s, %s, 'forgotten', now() - interval '90 days')",
                     (start, start + timedelta(minutes=1)))
        conn.commit()
    build_pending(silver["info"])
    # the 40-day-old record is gone, the 10-day-old one stays, the forgotten change was built
    assert absorbed(silver["info"]) == [("old_10", "sensor", 1), ("test_run", "sensor", 1)]
    assert ledger(silver["info"]) == []


def test_coverage_guard_names_the_silver_days_gold_lacks(silver):
    load_bronze_files(silver["connect"], silver["files"])  # six hours of 10-28 ...
    build_pending(silver["info"])
    with psycopg.connect(silver["info"]) as conn:
        assert gold_ledger.missing_gold_days(conn) == []
        # ... then readings of 10-30 reach Silver without a ledger row (what a lost asset event did before)
        conn.execute("INSERT INTO silver.sensor_readings (ts, value, series_id, file_id, is_outlier)"
                     " SELECT ts + interval '2 days', value, series_id, file_id, is_outlier"
                     " FROM silver.sensor_readings WHERE ts < %s", (START + timedelta(hours=1),))
        conn.commit()
        missing = gold_ledger.missing_gold_days(conn)
        assert missing == [gold_ledger.MissingDay("sensor", date(2023, 10, 30), pending=False)]
        assert str(missing[0]) == "2023-10-30 (sensor)"
        gold_ledger.enqueue_rebuild(conn, "sensor", START + timedelta(days=2), START + timedelta(days=2, hours=1))
        assert gold_ledger.missing_gold_days(conn) == [gold_ledger.MissingDay("sensor", date(2023, 10, 30), True)]
    build_pending(silver["info"])
    with psycopg.connect(silver["info"]) as conn:
        assert gold_ledger.missing_gold_days(conn) == []


def test_weather_load_records_the_hours_of_the_file_and_of_the_version_it_replaces(warehouse, tmp_path):
    from domotic.generator.weather import write_forecast_files
    from domotic.weather import load as weather_load

    info = warehouse["conninfo"]
    with psycopg.connect(info) as conn:
        migrate(conn)
    (forecast,) = write_forecast_files(tmp_path, DAY, 1, seed=3, rows_scale=0.02, defects=False)
    lines = forecast.path.read_text().splitlines(keepends=True)
    shorter = tmp_path / "v2" / forecast.path.name  # a corrected re-delivery covering fewer hours
    shorter.parent.mkdir()
    shorter.write_text("".join([lines[0], *(line for line in lines[1:] if line < "2023-10-30")]))

    def deliver(path: Path, checksum: str) -> weather_load.FileOutcome:
        with psycopg.connect(info) as conn:
            conn.execute("UPDATE silver.weather_file_manifest SET is_current = false WHERE source_name = %s",
                         (path.name,))
            conn.execute("INSERT INTO silver.weather_file_manifest (source_name, checksum, prediction_date,"
                         " remote_path, remote_size, remote_mtime, bronze_path, status)"
                         " VALUES (%s, %s, %s, %s, 0, now(), %s, 'downloaded')",
                         (path.name, checksum, DAY, f"/Meteo2/{path.name}", str(path)))
        (outcome,) = weather_load.clean_and_load(lambda: psycopg.connect(info), [
            weather_load.LoadItem(path.name, checksum, path, DAY)], 2023)
        assert outcome.status == "loaded"
        return outcome

    first = deliver(forecast.path, "sha-1")
    assert ledger(info) == [("weather", *first.window, "weather_load")]
    second = deliver(shorter, "sha-2")
    assert second.window[1] < first.window[1]
    assert ledger(info)[1:] == [("weather", *second.window, "weather_load"),
                                ("weather", *first.window, "weather_load")]
