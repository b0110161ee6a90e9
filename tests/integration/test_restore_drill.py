"""The restore drill: a backup restored onto a second, fresh PostgreSQL cluster by the runbook's commands (§9)
gives a working warehouse: same rows (counts and checksums, natural keys included), same row-level-security
policies and grants, the BI roles and their logins, and tenant isolation that still holds."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest
from domotic_dev import services
from psycopg import sql

from domotic import gold
from domotic.maintenance.backup import dump_warehouse, roles_script
from tests.fixtures.gold import full_plan, run

SCHEMAS = ("silver", "gold", "ops")
# Natural keys of the tables BI and Gold read (never surrogate numbers).
NATURAL_KEYS = {
    "silver.sensor_events": "apartment, room, sensor_type, field, sensor_index, \"timestamp\", value",
    "silver.file_manifest": "source_name, checksum, status, is_current",
    "gold.fact_energy_minute": "apartment_id, datetime_key",
    "gold.dim_device": "apartment_id, device_id",
}


@pytest.fixture
def second_cluster():
    """A fresh PostgreSQL cluster (initdb) on a free port, removed at the end: a new server, no role of ours."""
    name = f"restore-drill-{uuid.uuid4().hex[:8]}"
    cluster = services.ensure_postgres(private=True, name=name)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(services.SERVICES_DIR / name, ignore_errors=True)


def libpq(cluster: services.Service) -> list[str]:
    return ["-h", cluster.host, "-p", str(cluster.port), "-U", cluster.user]


def fingerprint(info: str) -> dict[str, object]:
    """Row counts and row checksums per table, natural-key checksums, policies, grants, RLS flags, roles."""
    out: dict[str, object] = {}
    with psycopg.connect(info) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relacl::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) "
            "ORDER BY 1, 2", (list(SCHEMAS),)).fetchall()
        for schema, table, rls, forced, acl in tables:
            name = sql.Identifier(schema, table)
            out[f"{schema}.{table}"] = (rls, forced, acl, *conn.execute(sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text COLLATE \"C\"), '')) "
                "FROM {} t").format(name)).fetchone())
        for relation, columns in NATURAL_KEYS.items():
            out[f"natural key {relation}"] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(concat_ws('|', {columns}), ',' "
                f"ORDER BY concat_ws('|', {columns}) COLLATE \"C\"), '')) FROM {relation}").fetchone()
        out["policies"] = conn.execute(
            "SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual FROM pg_policies "
            "WHERE schemaname = ANY(%s) ORDER BY 1, 2, 3", (list(SCHEMAS),)).fetchall()
        out["schema grants"] = conn.execute(
            "SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY 1",
            (list(SCHEMAS),)).fetchall()
        out["default privileges"] = conn.execute(
            "SELECT defaclobjtype, defaclacl::text FROM pg_default_acl ORDER BY 1, 2").fetchall()
        out["migrations"] = conn.execute("SELECT version, name, sha256 FROM ops.schema_migrations ORDER BY 1").fetchall()
    return out


def memberships(info: str, login: str) -> list[tuple]:
    with psycopg.connect(info) as conn:
        return conn.execute(
            "SELECT g.rolname, m.rolname, m.rolcanlogin FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
            "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = %s", (login,)).fetchall()


def test_a_backup_restores_onto_a_fresh_server_with_roles_policies_and_grants(make_db, pg_service, second_cluster,
                                                                               tmp_path):
    info = make_db()
    run(info, full_plan())  # Gold built: facts, dimensions, row-level security
    login = f"bi_jimmy_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE role_jimmy").format(sql.Identifier(login)))
    try:
        source = fingerprint(info)
        assert source["policies"] and source["gold.fact_energy_minute"][3] > 0
        dbname = info.rsplit("dbname=", 1)[1]
        with psycopg.connect(info) as conn:
            roles = roles_script(conn)
        backup = dump_warehouse(tmp_path, date(2023, 11, 1), ["-w", "-d", dbname, *libpq(pg_service)], {},
                                roles_sql=roles)
        assert "role_jimmy" in roles and login in roles

        # The runbook's commands (docs/runbook.md §9), on a server that has never seen our roles:
        target = libpq(second_cluster)
        subprocess.run(["psql", *target, "-v", "ON_ERROR_STOP=1", "-q", "-d", "postgres", "-f",
                        backup["roles_path"]], check=True, capture_output=True, text=True)
        subprocess.run(["createdb", *target, "domotic"], check=True, capture_output=True, text=True)
        restore = subprocess.run(["pg_restore", *target, "--exit-on-error", "-d", "domotic", backup["path"]],
                                 capture_output=True, text=True)
        assert restore.returncode == 0 and restore.stderr == "", restore.stderr  # not one error

        restored = f"host={second_cluster.host} port={second_cluster.port} user={second_cluster.user} dbname=domotic"
        assert fingerprint(restored) == source
        assert memberships(restored, login) == memberships(info, login) == [("role_jimmy", login, True)]
        # A working warehouse: the BI login sees its apartment only, Silver stays out of its reach.
        bi = restored.replace(f"user={second_cluster.user}", f"user={login}")
        with psycopg.connect(bi) as conn:
            for table in gold.TENANT_TABLES:
                seen = {r[0] for r in conn.execute(sql.SQL("SELECT DISTINCT apartment_id FROM gold.{}")
                                                   .format(sql.Identifier(table)))}
                assert seen <= {"jimmy"}, table
            assert conn.execute("SELECT count(*) FROM gold.fact_energy_minute").fetchone()[0] > 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM silver.sensor_readings")
        # The deploy step finds the restored warehouse current: nothing to apply.
        from domotic.warehouse.migrations import apply as migrate

        with psycopg.connect(restored) as conn:
            assert migrate(conn)["applied"] == []
        assert fingerprint(restored) == source
    finally:
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


def test_the_roles_script_is_idempotent_and_creates_no_superuser(make_db, second_cluster, tmp_path):
    info = make_db()
    with psycopg.connect(info) as conn:
        script = roles_script(conn)
    assert "SUPERUSER" not in script.replace("a superuser", "")
    path = Path(tmp_path / "roles.sql")
    path.write_text(script)
    for _ in range(2):  # twice: every statement tolerates what exists
        subprocess.run(["psql", *libpq(second_cluster), "-v", "ON_ERROR_STOP=1", "-q", "-d", "postgres", "-f",
                        str(path)], check=True, capture_output=True, text=True)
    with psycopg.connect(f"host={second_cluster.host} port={second_cluster.port} user={second_cluster.user} "
                         "dbname=postgres") as conn:
        created = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'role\\_%'")}
    assert {"role_jimmy", "role_jeremie", "role_admin"} <= created
