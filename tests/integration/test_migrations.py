"""Versioned warehouse migrations against a real Postgres: applied once, transactional, recorded; a warehouse
built before migrations existed is upgraded in place with its data intact; runs fail at once when behind."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from domotic.errors import ConfigurationError
from domotic.warehouse import migrations
from domotic.warehouse.migrations import SchemaOutdatedError, apply, current_version, require_current

BEFORE_MIGRATIONS = Path(__file__).resolve().parents[1] / "fixtures" / "warehouse_before_migrations.sql.gz"


def tables(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('silver', 'gold', 'ops')")}


def test_a_fresh_warehouse_gets_every_migration_once(empty_warehouse):
    with psycopg.connect(empty_warehouse["conninfo"]) as conn:
        assert current_version(conn) == 0
        first = apply(conn)
        assert first["from"] == 0 and first["to"] == migrations.latest_version()
        assert first["applied"] == [m.path.name for m in migrations.available()]
        assert {"silver.sensor_readings", "silver.gold_ledger", "gold.fact_energy_minute", "ops.alerts",
                "ops.schema_migrations"} <= tables(conn)
        rows = conn.execute("SELECT version, name, sha256 FROM ops.schema_migrations ORDER BY 1").fetchall()
        assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in migrations.available()]
        assert all(len(sha) == 64 for _, _, sha in rows)
        again = apply(conn)  # idempotent: nothing left to do
        assert again["applied"] == [] and again["repeatable"] == [p.name for p in migrations.repeatable_scripts()]
        assert "gold_security.sql" in again["repeatable"]
        assert require_current(conn) == migrations.latest_version()


def test_a_failing_migration_leaves_no_trace_and_stops_the_next(empty_warehouse, tmp_path, monkeypatch):
    folder = tmp_path / "migrations"
    (folder / "repeatable").mkdir(parents=True)
    (folder / "0001_tables.sql").write_text("CREATE SCHEMA probe; CREATE TABLE probe.a (x int);")
    (folder / "0002_broken.sql").write_text("CREATE TABLE probe.b (x int); SELECT 1 / 0;")
    (folder / "0003_later.sql").write_text("CREATE TABLE probe.c (x int);")
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", folder)
    monkeypatch.setattr(migrations, "REPEATABLE_DIR", folder / "repeatable")
    discover = migrations.available.__wrapped__  # without its cache
    monkeypatch.setattr(migrations, "available", lambda: discover(folder))
    with psycopg.connect(empty_warehouse["conninfo"]) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            apply(conn)
        assert current_version(conn) == 1
        found = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'probe'")}
        assert found == {"a"}  # 0002 rolled back whole, 0003 never ran
        with pytest.raises(SchemaOutdatedError, match="version 1, this code needs version 3: apply the migrations"):
            require_current(conn)
        (folder / "0001_tables.sql").write_text("CREATE SCHEMA probe; -- edited after it ran")
        with pytest.raises(ConfigurationError, match="changed after it was applied"):
            apply(conn)


def test_runs_fail_at_once_naming_the_deploy_step_when_the_warehouse_is_behind(empty_warehouse):
    from domotic import airflow_adapter
    from domotic.sensors.tasks import load_paths

    airflow_adapter._SCHEMA_CHECKED.clear()
    with pytest.raises(SchemaOutdatedError, match="trigger the DAG warehouse_migrate"):
        load_paths([])
    from domotic.errors import PermanentError

    assert issubclass(SchemaOutdatedError, PermanentError)  # the retry policy fails it at once


def test_a_warehouse_built_before_migrations_is_upgraded_in_place(empty_warehouse, pg_service):
    """A dump of a warehouse built by the pipeline as it was before versioned migrations (commit 6c6e118: no
    ledger, no migrations table), with Silver, Gold and alert rows: the baseline upgrades it, data intact."""
    client = shutil.which("psql")
    assert client, "psql (PostgreSQL client) is needed"
    with psycopg.connect(empty_warehouse["conninfo"], autocommit=True) as conn:
        for role in ("role_jimmy", "role_jeremie", "role_admin"):  # cluster roles its policies name
            conn.execute(f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    done = subprocess.run(
        [client, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg_service.host, "-p", str(pg_service.port),
         "-U", pg_service.user, "-d", empty_warehouse["dbname"]],
        input=gzip.decompress(BEFORE_MIGRATIONS.read_bytes()).decode(), text=True, capture_output=True)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = ("SELECT (SELECT count(*) FROM silver.sensor_readings), (SELECT count(*) FROM silver.file_manifest),"
              " (SELECT count(*) FROM gold.fact_energy_minute), (SELECT count(*) FROM ops.alerts)")
    with psycopg.connect(empty_warehouse["conninfo"]) as conn:
        before = conn.execute(counts).fetchone()
        assert before[0] > 2000 and before[2] > 0 and before[3] == 1
        assert "silver.gold_ledger" not in tables(conn)
        assert current_version(conn) == 0
        result = apply(conn)
        assert result["from"] == 0 and result["to"] == migrations.latest_version()
        assert conn.execute(counts).fetchone() == before
        assert "silver.gold_ledger" in tables(conn)
        # Two policies per table with apartment data, whatever the number of apartments (issue 21): the policy per
        # apartment role of the old warehouse gave way to one keyed on gold.tenant_membership.
        policies = dict(conn.execute("SELECT policyname, count(*) FROM pg_policies WHERE schemaname = 'gold' "
                                     "GROUP BY 1").fetchall())
        assert set(policies) == {"tenant_membership", "admin_all"} and policies["tenant_membership"] >= 7
        assert conn.execute("SELECT to_regclass('gold.tenant_role')").fetchone()[0] is None
        assert conn.execute("SELECT role_name, apartment_id FROM gold.tenant_membership ORDER BY 1").fetchall() == [
            ("role_jeremie", "jeremie"), ("role_jimmy", "jimmy")]
    # ... and the pipeline works on it: a Gold build claims what a new load records.
    from domotic import gold
    from domotic.gold import ledger

    with psycopg.connect(empty_warehouse["conninfo"]) as conn:
        ledger.enqueue_rebuild(conn, "sensor", *conn.execute(
            "SELECT min(ts), max(ts) + interval '1 minute' FROM silver.sensor_readings").fetchone())
        gold.build(conn, gold.plan_from_context(None, None, None, ledger.pending(conn)).parameters(["Sion"]))
        assert ledger.pending(conn).changes == 0


def test_the_cli_migrates_through_the_airflow_connection(empty_warehouse):
    done = subprocess.run([sys.executable, "-m", "domotic.warehouse", "migrate"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f'"to": {migrations.latest_version()}' in done.stdout
    with psycopg.connect(empty_warehouse["conninfo"]) as conn:
        assert current_version(conn) == migrations.latest_version()
