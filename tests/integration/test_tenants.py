"""Apartments are data (issue 21): onboarding a third apartment end to end, offboarding, and files of an unknown
handle quarantined then loaded once the handle is registered. Real MariaDB (pidb), real Postgres, real files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import sql

from domotic import gold
from domotic.gold import ledger
from domotic.reference.tasks import run_snapshot
from domotic.sensors import tasks as sensor_tasks
from domotic.sensors.load import ingest_share_files, list_share_day
from domotic.sensors.names import sensor_name
from domotic.warehouse import tenants
from domotic_airflow.sensors import PredictedFileSensor
from tests.fixtures.sensors import DAY, T0, payload, share_env, write

NEW_HANDLE = "AliceMartin"  # derive_apartment_id: 'alice'


@pytest.fixture
def env(warehouse, tmp_path):
    return share_env(warehouse, tmp_path)


def deliver(share, handles, minutes: int = 20) -> list[str]:
    names = []
    for i in range(minutes):
        minute = T0 + timedelta(minutes=i)
        for handle in handles:
            names.append(sensor_name(handle, minute))
            write(share, names[-1], payload(handle, minute))
    return names


def ingest(env, day: date = DAY):
    """What a sensors_daily run of ``day`` does: list the share with the registry, ingest every chunk."""
    with env["connect"]() as conn:
        apartments = tenants.read_registry(conn)
    listing = list_share_day(env["share"], day, apartments=apartments)
    return ingest_share_files(env["connect"], env["share"], listing.names + listing.bad_names, env["bronze"])


def build_gold(env) -> None:
    with env["connect"]() as conn:
        gold.build(conn, gold.plan_from_context(None, None, None, ledger.pending(conn)).parameters(["Sion"]))


def rows_seen_as(env, role: str) -> dict[str, dict[str, int]]:
    """Per Gold tenant table, the row count by apartment a role sees."""
    seen = {}
    with env["connect"]() as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        for table in gold.TENANT_TABLES:
            seen[table] = dict(conn.execute(sql.SQL("SELECT apartment_id, count(*) FROM gold.{} GROUP BY 1")
                                            .format(sql.Identifier(table))).fetchall())
    return seen


def add_building(pidb, building_id: int, house_name: str) -> None:
    pidb.root_execute(
        "INSERT INTO buildings (idBuilding, houseName, firstName, lastName, email, idBuildingType, buildingYear,"
        f" nbPeople, heatingElectric, surface) VALUES ({building_id}, '{house_name}', 'Alice', 'Martin',"
        " 'alice.martin@example.invalid', 1, 1999, 1, 0, 41.5)")


def test_onboarding_a_third_apartment_end_to_end(pidb, env):
    """A building in pidb -> the weekly snapshot registers it -> its files load -> Gold -> its owner's role sees
    its rows and nothing else; the other owners see none of them; sensors_minutely predicts it from then on."""
    add_building(pidb, 3, f"Studio {NEW_HANDLE}")
    report = run_snapshot(taken_at=datetime(2023, 9, 14, 3, 0, tzinfo=UTC))
    assert report.new_apartments == ["alice"]
    with env["connect"]() as conn:
        row = next(r for r in tenants.registered(conn) if r.apartment_id == "alice")
        assert (row.owner_handle, row.building_id, row.active_from, row.active_to) == (
            NEW_HANDLE, 3, date(2023, 9, 14), None)
        assert conn.execute("SELECT role_name FROM gold.tenant_membership WHERE apartment_id = 'alice'"
                            ).fetchall() == [("role_alice",)]
        assert conn.execute("SELECT pg_has_role('role_alice', 'role_tenant', 'MEMBER')").fetchone()[0]
        assert conn.execute("SELECT apartment FROM silver.dim_buildings WHERE \"idBuilding\" = 3").fetchone() == (
            "alice",)
        # the minutely DAG predicts its files from its first day on, not before
        assert "alice" in {a.apartment_id for a in tenants.read_registry(conn, active_on=DAY)}
        assert "alice" not in {a.apartment_id for a in tenants.read_registry(conn, active_on=DAY - timedelta(1))}
    # a second snapshot changes nothing
    assert run_snapshot(taken_at=datetime(2023, 9, 21, 3, 0, tzinfo=UTC)).new_apartments == []

    deliver(env["share"], [NEW_HANDLE, "JimmyLoup"])
    result = ingest(env)
    assert result.silver.files_loaded == 40 and result.silver.files_quarantined == 0
    assert (env["bronze"] / "alice/2023/09/14/08" / sensor_name(NEW_HANDLE, T0)).is_file()
    build_gold(env)

    mine = rows_seen_as(env, "role_alice")
    assert all(set(counts) <= {"alice"} for counts in mine.values()), mine
    assert mine["fact_energy_minute"]["alice"] > 0 and mine["fact_environment_minute"]["alice"] > 0
    assert mine["dim_apartment"] == {"alice": 1}
    with env["connect"]() as conn:
        assert conn.execute("SELECT building_id FROM gold.dim_apartment WHERE apartment_id = 'alice'"
                            ).fetchone() == (3,)
        conn.execute("SET ROLE role_alice")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # Silver stays out of reach
            conn.execute("SELECT count(*) FROM silver.sensor_readings")
    for other in ("role_jimmy", "role_jeremie"):
        assert all("alice" not in counts for counts in rows_seen_as(env, other).values())
    assert rows_seen_as(env, "role_jimmy")["fact_energy_minute"].keys() == {"jimmy"}


def test_offboarding_keeps_history_and_revokes(env):
    """Offboarded: not predicted after its last day, its owner sees nothing, the admin still sees its history;
    onboarding the same handle again brings it back."""
    with env["connect"]() as conn:
        conn.autocommit = True
        done = tenants.onboard(conn, NEW_HANDLE, DAY, weather_site="Sion")
        assert (done["apartment_id"], done["action"], done["role"]) == ("alice", "registered", "role_alice")
    deliver(env["share"], [NEW_HANDLE], minutes=5)
    assert ingest(env).silver.files_loaded == 5
    build_gold(env)
    assert rows_seen_as(env, "role_alice")["fact_energy_minute"].keys() == {"alice"}

    # sensors_minutely's sensor reads the registry itself (one query per run) and predicts alice's file too
    sensor = PredictedFileSensor(task_id="wait", folder=str(env["share"]), deferrable=False, wait_seconds=0)
    pushed: dict = {}
    ctx = {"data_interval_start": T0, "ti": SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))}
    assert sensor.poke(ctx).xcom_value == [sensor_name(NEW_HANDLE, T0)]  # only alice delivered here
    assert pushed["missing"] == [sensor_name(h, T0) for h in ("JeremieVianin", "JimmyLoup")]
    assert ["alice", NEW_HANDLE, None] in sensor_tasks.minute_apartments(T0)

    with env["connect"]() as conn:
        conn.autocommit = True
        assert tenants.offboard(conn, "alice", DAY)["revoked"] == ["role_alice"]
    assert ["alice", NEW_HANDLE, None] not in sensor_tasks.minute_apartments(T0 + timedelta(days=1))
    with env["connect"]() as conn:
        assert "alice" in {a.apartment_id for a in tenants.read_registry(conn, active_on=DAY)}
        assert "alice" not in {a.apartment_id for a in tenants.read_registry(conn, active_on=DAY + timedelta(1))}
        assert "alice" in {a.apartment_id for a in tenants.read_registry(conn)}  # its old files still load
        with pytest.raises(tenants.RegistryError, match="became active on 2023-09-14"):
            tenants.offboard(conn, "alice", DAY - timedelta(days=1))
        with pytest.raises(tenants.RegistryError, match="'nobody' is not registered"):
            tenants.offboard(conn, "nobody", DAY)
    assert all(not counts for counts in rows_seen_as(env, "role_alice").values())
    assert rows_seen_as(env, "role_admin")["fact_energy_minute"]["alice"] > 0  # history stays

    with env["connect"]() as conn:
        conn.autocommit = True
        assert tenants.onboard(conn, NEW_HANDLE, DAY + timedelta(days=3))["action"] == "reactivated"
        assert "alice" in {a.apartment_id for a in tenants.read_registry(conn, active_on=DAY + timedelta(5))}
    assert rows_seen_as(env, "role_alice")["fact_energy_minute"].keys() == {"alice"}


def test_unknown_handle_is_quarantined_then_loaded_once_registered(env):
    """A file of an unregistered handle is quarantined (reason naming file and handle); once the apartment is
    onboarded, re-running the day loads it, and the manifest keeps one row per file."""
    names = deliver(env["share"], ["BobNouveau", "JimmyLoup"], minutes=3)
    first = ingest(env)
    bob = [name for name in names if "BobNouveau" in name]
    assert first.silver.files_loaded == 3 and first.silver.files_quarantined == 3
    assert first.silver.quarantined[bob[0]].startswith(f"unknown owner handle 'BobNouveau' in '{bob[0]}'")
    # re-running before the registration changes nothing
    again = ingest(env)
    assert again.silver.files_quarantined == 0 and again.silver.files_loaded == 0

    with env["connect"]() as conn:
        conn.autocommit = True
        assert tenants.onboard(conn, "BobNouveau", DAY)["apartment_id"] == "bob"
    retried = ingest(env)
    assert retried.silver.files_loaded == 3 and retried.silver.files_quarantined == 0
    assert retried.silver.files_unchanged == 3  # Jimmy's files, already loaded
    with env["connect"]() as conn:
        rows = conn.execute("SELECT source_name, apartment, status, is_current FROM silver.file_manifest"
                            " WHERE source_name = ANY(%s) ORDER BY 1", (bob,)).fetchall()
        assert rows == [(name, "bob", "loaded", True) for name in sorted(bob)]
        assert conn.execute("SELECT count(*) FROM silver.sensor_events WHERE apartment = 'bob'").fetchone()[0] > 0
    assert (env["bronze"] / "bob/2023/09/14/08" / bob[0]).is_file()


def test_onboarding_refuses_bad_input_clearly(env):
    with env["connect"]() as conn:
        conn.autocommit = True
        with pytest.raises(tenants.RegistryError, match="cannot appear in a sensor file name"):
            tenants.onboard(conn, "Bad_Handle", DAY)
        with pytest.raises(tenants.RegistryError, match="already registered as apartment 'jimmy'"):
            tenants.onboard(conn, "jimmyloup", DAY, apartment_id="other")
        with pytest.raises(tenants.RegistryError, match="taken by another handle"):
            tenants.onboard(conn, "JimmyOther", DAY, apartment_id="jimmy")
        with pytest.raises(tenants.RegistryError, match="not an IANA time zone"):
            tenants.onboard(conn, "CarlaNeu", DAY, source_tz="Mars/Olympus")
        assert {a.apartment_id for a in tenants.registered(conn)} == {"jimmy", "jeremie"}


def test_n_generated_apartments_onboarded_each_see_their_own(env):
    """Scale in miniature: the generator's apartments 2..5 onboarded by one CSV import, an hour of their files loaded,
    Gold built; each owner's role sees exactly its apartment, with two policies per table whatever N."""
    from domotic.generator.sensors import inventories, write_range

    fleet = inventories(6)
    write_range(env["share"], datetime(2023, 9, 14, 8, 0), datetime(2023, 9, 14, 9, 0), seed=4, apartments=6,
                history_start=DAY)
    csv_lines = ["handle,active_from", *(f"{inv.handle},{DAY}" for inv in fleet[2:])]
    with env["connect"]() as conn:
        conn.autocommit = True  # the bulk import, as `tenants import FILE.csv` runs it
        done, created = tenants.onboard_many(conn, tenants.read_registrations(csv_lines, "fleet.csv"))
    # roles are the cluster's: an earlier test database may have created them already
    assert [d["apartment_id"] for d in done] == [inv.apartment for inv in fleet[2:]] and 0 <= created <= 4
    result = ingest(env)
    assert result.silver.files_loaded == 6 * 60 and result.silver.files_quarantined == 0
    build_gold(env)
    for inv in fleet:
        seen = rows_seen_as(env, f"role_{inv.apartment}")
        assert seen["dim_apartment"] == {inv.apartment: 1}, inv.apartment
        assert set(seen["fact_energy_minute"]) == {inv.apartment}, inv.apartment
    with env["connect"]() as conn:
        policies = conn.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'gold'").fetchone()[0]
        assert policies == 2 * len(gold.TENANT_TABLES)
        assert conn.execute("SELECT count(*) FROM gold.tenant_membership").fetchone()[0] == 6


def test_bulk_import_refuses_a_bad_row_before_writing_anything(env):
    """A CSV import is all or nothing: a bad row is named by its line and the reason, and no apartment of the
    file is registered; a refused registration inside the transaction rolls the earlier ones back."""
    with pytest.raises(tenants.RegistryError, match=r"fleet.csv line 3: .*not-a-day"):
        tenants.read_registrations(["handle,active_from", f"CarlaNeu,{DAY}", "DanOak,not-a-day"], "fleet.csv")
    with pytest.raises(tenants.RegistryError, match="header must name handle and active_from"):
        tenants.read_registrations(["handle,colour", "CarlaNeu,red"], "fleet.csv")
    with env["connect"]() as conn:
        conn.autocommit = True
        with pytest.raises(tenants.RegistryError, match="cannot appear in a sensor file name"):
            tenants.onboard_many(conn, tenants.read_registrations(
                ["handle,active_from", f"CarlaNeu,{DAY}", f"Bad_Handle,{DAY}"], "fleet.csv"))
        assert {a.apartment_id for a in tenants.registered(conn)} == {"jimmy", "jeremie"}
        assert conn.execute("SELECT count(*) FROM gold.tenant_membership WHERE role_name = 'role_carla'"
                            ).fetchone()[0] == 0


def test_the_cli_imports_a_csv_through_the_airflow_connection(env):
    """`python -m domotic.warehouse.tenants import -`: the operator's bulk onboarding, end to end."""
    import json
    import subprocess
    import sys

    csv_text = f"handle,active_from,apartment_id,weather_site\nCarlaNeu,{DAY},,\nDanOak,{DAY},dano,Sion\n"
    done = subprocess.run([sys.executable, "-m", "domotic.warehouse.tenants", "import", "-"], input=csv_text,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [a["apartment_id"] for a in json.loads(done.stdout)["apartments"]] == ["carla", "dano"]
    with env["connect"]() as conn:
        rows = {r.apartment_id: r for r in tenants.registered(conn)}
        assert (rows["dano"].owner_handle, rows["dano"].weather_site, rows["carla"].active_from) == (
            "DanOak", "Sion", DAY)
        mapped = conn.execute("SELECT role_name FROM gold.tenant_membership WHERE apartment_id IN ('carla', 'dano')"
                              " ORDER BY 1").fetchall()
        assert mapped == [("role_carla",), ("role_dano",)]
