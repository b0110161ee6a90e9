"""Share -> Bronze -> Silver against a real Postgres: exact rows, idempotency, kills, quarantine, re-deliveries."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from domotic.sensors.load import (
    SeriesRegistry,
    copy_to_bronze,
    ingest_share_files,
    known_checksums,
    list_share_day,
    load_bronze_files,
)
from domotic.sensors.names import sensor_name
from domotic.warehouse.migrations import apply as migrate
from tests.fixtures.sensors import DAY, EXAMPLE, REGISTRY, T0, fill_share, payload, share_env, write


@pytest.fixture
def env(warehouse, tmp_path):
    env = share_env(warehouse, tmp_path)
    with env["connect"]() as conn:
        migrate(conn)
    return env


def ingest_day(env, day: date = DAY, batch_files: int = 5000):
    listing = list_share_day(env["share"], day)
    with env["connect"]() as conn:
        known = known_checksums(conn, listing.names + listing.bad_names)
    copied = copy_to_bronze(env["share"], listing.names + listing.bad_names, env["bronze"], known, apartments=REGISTRY)
    return copied, load_bronze_files(env["connect"], copied.bronze_paths, batch_files=batch_files)


def snapshot(env) -> tuple:
    with env["connect"]() as conn:
        events = conn.execute(
            "SELECT md5(string_agg(concat_ws('|', apartment, room, sensor_type, field, sensor_index, value, unit,"
            " \"timestamp\", is_outlier), ',' ORDER BY \"timestamp\", apartment, room, sensor_type, field,"
            " sensor_index)), count(*) FROM silver.sensor_events"
        ).fetchone()
        manifest = conn.execute(
            "SELECT md5(string_agg(concat_ws('|', source_name, checksum, status, reason, rows, is_current), ','"
            " ORDER BY source_name, checksum)), count(*) FROM silver.file_manifest"
        ).fetchone()
    return events, manifest


def test_a_window_loads_exactly_the_expected_rows(env):
    fill_share(env["share"], minutes=30)
    copied, stats = ingest_day(env)
    assert copied.copied == 60 and stats.files_loaded == 60 and stats.rows == 60 * 49
    assert (stats.window_start, stats.window_end) == (T0, T0 + timedelta(minutes=30))
    with env["connect"]() as conn:
        per_apartment = dict(conn.execute(
            "SELECT apartment, count(*) FROM silver.sensor_events GROUP BY 1").fetchall())
        assert per_apartment == {"jimmy": 30 * 49, "jeremie": 30 * 49}
        value = conn.execute(
            "SELECT value, unit FROM silver.sensor_events WHERE apartment = 'jimmy' AND room = 'House'"
            " AND field = 'total_power' AND \"timestamp\" = %s", (T0 + timedelta(minutes=7),)).fetchone()
        assert value == (407.0, "W")
        manifest = conn.execute(
            "SELECT status, count(*), sum(rows), bool_and(is_current) FROM silver.file_manifest GROUP BY 1"
        ).fetchall()
        assert manifest == [("loaded", 60, 60 * 49, True)]
        # Bronze layout: <apartment>/YYYY/MM/DD/HH/<name>
    assert (env["bronze"] / "jimmy/2023/09/14/08" / sensor_name("JimmyLoup", T0)).is_file()


def test_rerun_changes_nothing(env):
    fill_share(env["share"], minutes=20)
    ingest_day(env)
    before = snapshot(env)
    copied, stats = ingest_day(env)
    assert copied.unchanged == 40 and copied.bronze_paths == [] and stats.files_loaded == 0
    assert snapshot(env) == before


def test_quarantine_cases_are_recorded_named_and_not_retried(env, caplog):
    fill_share(env["share"], minutes=5)
    write(env["share"], "14.09.2023 0810_JimmyLoup_received.json", b'{"user": "JimmyLoup", "datetime": "14.09.')
    write(env["share"], "14.09.2023 0810_Intruder_received.json", payload("Intruder", T0))
    write(env["share"], "notes from the installer.json", b"{}")
    write(env["share"], "14.09.2023 0811_JimmyLoup_received.json", b"[1, 2, 3]")
    copied, stats = ingest_day(env)
    assert stats.files_loaded == 10 and stats.files_quarantined == 4
    with env["connect"]() as conn:
        rows = dict(conn.execute(
            "SELECT source_name, reason FROM silver.file_manifest WHERE status = 'quarantined'").fetchall())
    assert rows["14.09.2023 0810_JimmyLoup_received.json"].startswith("invalid JSON")
    assert "unknown owner handle 'Intruder'" in rows["14.09.2023 0810_Intruder_received.json"]
    assert "does not match" in rows["notes from the installer.json"]
    assert rows["14.09.2023 0811_JimmyLoup_received.json"] == "JSON document is not an object"
    assert "14.09.2023 0810_JimmyLoup_received.json" in caplog.text  # named in the log
    # Kept in Bronze, and not retried on the next run.
    assert (env["bronze"] / "_quarantine" / "notes from the installer.json").is_file()
    copied, stats = ingest_day(env)
    assert stats.files_seen == 0 and copied.unchanged == 14


def test_a_flood_of_quarantines_is_named_up_to_a_cap_then_counted_by_reason(env, caplog, monkeypatch):
    """A fleet arriving before its registry rows must not write a log line per file (1.44 M a day at scale)."""
    import domotic.sensors.load as load

    monkeypatch.setattr(load, "QUARANTINE_LOG_FILES", 3)
    for minute in range(7):
        write(env["share"], sensor_name("Intruder", T0 + timedelta(minutes=minute)), payload("Intruder", T0))
    write(env["share"], "14.09.2023 0811_JimmyLoup_received.json", b"[1, 2, 3]")
    _, stats = ingest_day(env)
    assert stats.files_quarantined == 8
    live = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Quarantined '")]
    assert len(live) == 3
    caplog.clear()
    load.log_quarantined(stats)  # the task's summary
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and all(line.startswith("QUARANTINED '") for line in lines[:3])
    unnamed = list(stats.quarantined.items())[3:]
    intruders = sum("Intruder" in name for name, _ in unnamed)
    assert lines[3].startswith("QUARANTINED 5 more file(s)")
    assert f"{intruders} x unknown owner handle 'Intruder' in '<file>'" in lines[3]  # counted, not named
    assert not any(name in lines[3] for name, _ in unnamed)
    with env["connect"]() as conn:  # every one is in the manifest all the same
        assert conn.execute("SELECT count(*) FROM silver.file_manifest WHERE status = 'quarantined'"
                            ).fetchone()[0] == 8


def test_unparsable_payload_datetime_falls_back_to_file_name_minute(env):
    minute = T0 + timedelta(minutes=3)
    name = sensor_name("JimmyLoup", minute)
    write(env["share"], name, payload("JimmyLoup", minute, datetime="32.13.2023 25:61"))
    _, stats = ingest_day(env)
    assert stats.ts_fallbacks == 1
    with env["connect"]() as conn:
        row = conn.execute(
            "SELECT ts_fallback, reading_ts, payload_ts, reason FROM silver.file_manifest WHERE source_name = %s",
            (name,)).fetchone()
        times = conn.execute("SELECT DISTINCT \"timestamp\" FROM silver.sensor_events").fetchall()
    assert row[0] is True and row[1] == minute and row[2] is None and "unparsable" in row[3]
    assert times == [(minute,)]


def test_payload_gap_is_recorded(env):
    name = sensor_name("JimmyLoup", T0)
    write(env["share"], name, payload("JimmyLoup", T0 + timedelta(hours=5)))
    ingest_day(env)
    with env["connect"]() as conn:
        gap = conn.execute("SELECT payload_gap_minutes FROM silver.file_manifest").fetchone()[0]
    assert gap == 300


def test_non_numeric_reading_is_skipped_and_counted(env):
    body = payload("JimmyLoup", T0)
    body["plugs"]["Office"]["power"] = "n/a"
    write(env["share"], sensor_name("JimmyLoup", T0), body)
    _, stats = ingest_day(env)
    assert stats.rows == 48 and stats.readings_skipped == 1
    with env["connect"]() as conn:
        row = conn.execute("SELECT rows, skipped_readings, skip_reasons FROM silver.file_manifest").fetchone()
    assert row == (48, 1, {"non-numeric plug.power": 1})


def test_duplicate_delivery_changes_nothing_and_changed_content_reloads(env):
    fill_share(env["share"], minutes=3)
    ingest_day(env)
    before = snapshot(env)
    # Same file delivered again (same content, new mtime): nothing changes.
    name = sensor_name("JimmyLoup", T0 + timedelta(minutes=1))
    os.utime(env["share"] / name, (time.time(), time.time()))
    ingest_day(env)
    assert snapshot(env) == before
    # Same name, new content: reloaded, old readings replaced, Bronze keeps both versions.
    changed = payload("JimmyLoup", T0 + timedelta(minutes=1))
    changed["consumptions"]["House"]["total_power"] = 999.5
    del changed["plugs"]["Office"]
    write(env["share"], name, changed)
    copied, stats = ingest_day(env)
    assert copied.copied == 1 and stats.files_reloaded == 1 and stats.rows == 46
    with env["connect"]() as conn:
        value = conn.execute(
            "SELECT value FROM silver.sensor_events WHERE apartment = 'jimmy' AND field = 'total_power'"
            " AND \"timestamp\" = %s", (T0 + timedelta(minutes=1),)).fetchall()
        office = conn.execute(
            "SELECT count(*) FROM silver.sensor_events WHERE apartment = 'jimmy' AND room = 'Office'"
            " AND sensor_type = 'plug' AND \"timestamp\" = %s", (T0 + timedelta(minutes=1),)).fetchone()[0]
        versions = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_current) FROM silver.file_manifest WHERE source_name = %s",
            (name,)).fetchone()
    assert value == [(999.5,)] and office == 0 and versions == (2, 1)
    hour = env["bronze"] / "jimmy/2023/09/14/08"
    assert sorted(p.name for p in hour.iterdir() if p.name.startswith(name)) == [
        name, name + "." + stats_checksum(env["share"] / name)[:12]]


def stats_checksum(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_files_claiming_the_same_minute_merge_later_file_wins(env):
    # The payload minute of the second file says 08:00 too (a clock glitch upstream): no duplicate keys.
    write(env["share"], sensor_name("JimmyLoup", T0), payload("JimmyLoup", T0))
    late = payload("JimmyLoup", T0)
    late["consumptions"]["House"]["total_power"] = 123.0
    write(env["share"], sensor_name("JimmyLoup", T0 + timedelta(minutes=1)), late)
    _, stats = ingest_day(env)
    assert stats.merge_fallbacks == 1 and stats.files_loaded == 2
    with env["connect"]() as conn:
        rows = conn.execute("SELECT count(*) FROM silver.sensor_events").fetchone()[0]
        value = conn.execute("SELECT value FROM silver.sensor_events WHERE field = 'total_power'").fetchall()
    assert rows == 49 and value == [(123.0,)]


def _load_in_child(conninfo: str, paths: list[str], batch_files: int) -> None:
    load_bronze_files(lambda: psycopg.connect(conninfo), paths, batch_files=batch_files)


def test_killed_half_way_then_rerun_equals_uninterrupted(env, warehouse, pg_service, tmp_path):
    fill_share(env["share"], minutes=240)  # 480 files in batches of 40
    listing = list_share_day(env["share"], DAY)
    copied = copy_to_bronze(env["share"], listing.names, env["bronze"], set(), apartments=REGISTRY)
    # Slow the batches down so the kill lands between commits: a trigger sleeping a little per batch.
    with env["connect"]() as conn:
        conn.execute(
            "CREATE FUNCTION silver._slow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;"
            "CREATE TRIGGER slow AFTER INSERT ON silver.file_manifest FOR EACH STATEMENT EXECUTE FUNCTION silver._slow()")
    child = multiprocessing.get_context("spawn").Process(
        target=_load_in_child, args=(env["conninfo"], copied.bronze_paths, 40))
    child.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with env["connect"]() as conn:
            done = conn.execute("SELECT count(*) FROM silver.file_manifest").fetchone()[0]
        if done >= 120:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    with env["connect"]() as conn:
        partial = conn.execute("SELECT count(*) FROM silver.file_manifest").fetchone()[0]
        conn.execute("DROP TRIGGER slow ON silver.file_manifest")
    assert 0 < partial < 480 and partial % 40 == 0  # whole batches only
    # Re-run: finishes the job.
    stats = load_bronze_files(env["connect"], copied.bronze_paths, batch_files=40)
    assert stats.files_loaded == 480 - partial and stats.files_unchanged == partial
    interrupted = snapshot(env)
    # An uninterrupted run into a second database gives identical Silver.
    from domotic_dev import services

    other = warehouse["dbname"] + "_ref"
    services.create_database(pg_service, other)
    try:
        ref_info = warehouse["conninfo"].replace(warehouse["dbname"], other)
        with psycopg.connect(ref_info) as conn:
            migrate(conn)
        load_bronze_files(lambda: psycopg.connect(ref_info), copied.bronze_paths, batch_files=40)
        assert snapshot({"connect": lambda: psycopg.connect(ref_info)}) == interrupted
    finally:
        services.drop_database(pg_service, other)


def test_connection_cut_mid_load_then_rerun_loses_nothing(env):
    fill_share(env["share"], minutes=60)
    listing = list_share_day(env["share"], DAY)
    copied = copy_to_bronze(env["share"], listing.names, env["bronze"], set(), apartments=REGISTRY)
    calls = {"n": 0}

    def cut_after_two_batches(stats):
        calls["n"] += 1
        if calls["n"] == 2:
            with env["connect"]() as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    with pytest.raises(psycopg.OperationalError):
        load_bronze_files(env["connect"], copied.bronze_paths, batch_files=20, on_batch=cut_after_two_batches)
    stats = load_bronze_files(env["connect"], copied.bronze_paths, batch_files=20)
    assert stats.files_unchanged == 40 and stats.files_loaded == 80
    events, manifest = snapshot(env)
    assert events[1] == 120 * 49 and manifest[1] == 120


def _ingest_in_child(conninfo: str, share: str, names: list[str], bronze: str) -> None:
    ingest_share_files(lambda: psycopg.connect(conninfo), Path(share), names, Path(bronze), batch_files=40)


def test_one_pass_ingest_equals_copy_then_load_and_reruns_change_nothing(env, warehouse, pg_service):
    """``ingest_share_files`` (what sensors_daily runs) gives Silver and Bronze identical to copy-then-load."""
    fill_share(env["share"], minutes=30)
    write(env["share"], "14.09.2023 0810_Intruder_received.json", payload("Intruder", T0))
    listing = list_share_day(env["share"], DAY)
    names = listing.names + listing.bad_names
    result = ingest_share_files(env["connect"], env["share"], names, env["bronze"], batch_files=25)
    assert result.bronze.copied == 61 and result.silver.files_loaded == 60 and result.silver.files_quarantined == 1
    assert result.silver.rows == 60 * 49
    one_pass = snapshot(env)
    assert sorted(p.name for p in env["bronze"].rglob("*") if p.is_file()) == sorted(names)  # no temporaries left
    # Re-run: nothing read twice, nothing copied, nothing loaded.
    again = ingest_share_files(env["connect"], env["share"], names, env["bronze"], batch_files=25)
    assert again.bronze.copied == 0 and again.bronze.unchanged == 61 and again.silver.files_loaded == 0
    assert snapshot(env) == one_pass
    # The two-step path into a second database gives the same Silver.
    from domotic_dev import services

    other = warehouse["dbname"] + "_two_step"
    services.create_database(pg_service, other)
    try:
        ref_info = warehouse["conninfo"].replace(warehouse["dbname"], other)
        ref_env = {**env, "connect": lambda: psycopg.connect(ref_info), "bronze": env["bronze"].parent / "bronze2"}
        with ref_env["connect"]() as conn:
            migrate(conn)
        ingest_day(ref_env)
        events, manifest = snapshot(ref_env)
        assert events == one_pass[0] and manifest[1] == one_pass[1][1]
    finally:
        services.drop_database(pg_service, other)


def test_one_pass_ingest_killed_after_bronze_copy_then_rerun_loads_everything(env, tmp_path):
    """Killed between writing Bronze and committing Silver: the re-run finds the files in Bronze and loads them."""
    fill_share(env["share"], minutes=240)  # 480 files in batches of 40
    names = list_share_day(env["share"], DAY).names
    with env["connect"]() as conn:
        conn.execute(
            "CREATE FUNCTION silver._slow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;"
            "CREATE TRIGGER slow AFTER INSERT ON silver.file_manifest FOR EACH STATEMENT EXECUTE FUNCTION silver._slow()")
    child = multiprocessing.get_context("spawn").Process(
        target=_ingest_in_child, args=(env["conninfo"], str(env["share"]), names, str(env["bronze"])))
    child.start()
    # Kill inside a batch's window between its Bronze copy and its commit (which the trigger holds for 0.3 s),
    # once a few batches are committed: Bronze then holds more files than Silver.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with env["connect"]() as conn:
            done = conn.execute("SELECT count(*) FROM silver.file_manifest").fetchone()[0]
        if done >= 120 and sum(1 for _ in env["bronze"].rglob("*.json")) > done:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    with env["connect"]() as conn:
        partial = conn.execute("SELECT count(*) FROM silver.file_manifest").fetchone()[0]
        conn.execute("DROP TRIGGER slow ON silver.file_manifest")
    in_bronze = sum(1 for p in env["bronze"].rglob("*.json"))
    assert 0 < partial < 480 and partial % 40 == 0 and in_bronze > partial  # a batch copied, not committed
    result = ingest_share_files(env["connect"], env["share"], names, env["bronze"], batch_files=40)
    assert result.bronze.unchanged == partial and result.silver.files_loaded == 480 - partial
    assert result.bronze.already_in_bronze == in_bronze - partial
    events, manifest = snapshot(env)
    assert events[1] == 480 * 49 and manifest[1] == 480


def test_a_series_another_loader_just_created_is_found(env):
    """Two loaders meeting a new series at once: the one whose insert loses the race still gets the id."""
    registry = SeriesRegistry(env["connect"])
    key = ("Kitchen", "plug", "power", 0)
    with env["connect"]() as other:
        other.execute("INSERT INTO silver.sensor_series (apartment, room, sensor_type, field, sensor_index, unit) "
                      "VALUES ('jimmy', 'Kitchen', 'plug', 'power', 0, 'W')")
        import threading

        found = {}
        worker = threading.Thread(target=lambda: found.update(entry=registry.create("jimmy", key, "W")))
        worker.start()
        time.sleep(0.5)  # the registry's insert now waits for the other transaction
        other.commit()
        worker.join(10)
    with env["connect"]() as conn:
        series_id = conn.execute("SELECT series_id FROM silver.sensor_series").fetchone()[0]
    registry.close()
    assert found["entry"] == registry.by_apartment["jimmy"][("plug", "Kitchen", 0)]["power"]
    assert found["entry"][2][4:8] == series_id.to_bytes(4, "big")


def test_api_token_and_user_never_reach_postgres(env, warehouse):
    fill_share(env["share"], minutes=3)
    ingest_day(env)
    with env["connect"]() as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'silver' AND data_type IN ('text', 'jsonb', 'character varying')").fetchall()
        for schema, table, column in columns:
            hits = conn.execute(
                psycopg.sql.SQL("SELECT count(*) FROM {}.{} WHERE {}::text ILIKE %s").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)),
                ("%tok_9b41e0c2d7a84f6f%",)).fetchone()[0]
            assert hits == 0, (table, column)
    assert json.dumps(EXAMPLE).count("tok_9b41e0c2d7a84f6f") == 1  # the token really was in the files
