"""Maintenance against a real Postgres and real folders: compaction keeps every Bronze file replayable (replay
an archived day into a fresh warehouse and get identical Silver), crashes lose nothing, backups restore,
retention, VACUUM, disk report."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import subprocess
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from domotic.airflow_adapter import pg_command_env
from domotic.errors import ConfigurationError
from domotic.generator.sensors import Faults, write_range
from domotic.maintenance import archive, backup, compaction, disk, vacuum, weather_files
from domotic.maintenance.archive import archive_digests, archive_path, day_folder
from domotic.maintenance.compaction import compact_sensor_days
from domotic.sensors import replay
from domotic.sensors.load import (
    copy_to_bronze,
    known_checksums,
    list_share_day,
    load_bronze_files,
)
from domotic.warehouse.migrations import apply as migrate
from tests.fixtures.maintenance import APARTMENTS, DAYS, SMALL, drop_database, ingest, snapshot
from tests.fixtures.sensors import REGISTRY
from tests.fixtures.services import pg_conn_json

TODAY = date(2023, 11, 1)  # far enough after DAYS for a 30-day retention
# Two full days for the replay test; the other tests take the two hours around midnight (SMALL: both days,
# 240 files) with higher fault rates so that re-deliveries and corrupt files are still in them.
FULL = (datetime(2023, 9, 14), datetime(2023, 9, 16))
FAULTS = Faults(corrupt_json=0.002, bad_datetime=0.002, nulls=0.01, out_of_range=0.005, non_numeric=0.002,
                single_object_contact=0.01, changed_redelivery=0.004, duplicate_delivery=0.002)
SMALL_FAULTS = Faults(corrupt_json=0.03, bad_datetime=0.02, nulls=0.05, changed_redelivery=0.08,
                      duplicate_delivery=0.03)


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def env(warehouse, workdir):
    folders = {name: workdir / name for name in ("share", "redo", "bronze", "scratch")}
    for folder in folders.values():
        folder.mkdir()
    with psycopg.connect(warehouse["conninfo"]) as conn:
        migrate(conn)
    return {**folders, "conninfo": warehouse["conninfo"], "connect": lambda: psycopg.connect(warehouse["conninfo"])}


def generate_and_load(env, window: tuple[datetime, datetime] = SMALL, faults: Faults = SMALL_FAULTS) -> None:
    """Generated files (with faults and re-deliveries) through share -> Bronze -> Silver, day by day, then the
    re-deliveries, as sensors_daily would have loaded them."""
    report = write_range(env["share"], *window, faults, redelivery_dir=env["redo"], seed=7,
                         history_start=DAYS[0] - timedelta(days=1))
    for day in DAYS:
        listing = list_share_day(env["share"], day)
        ingest(env["connect"], env["share"], env["bronze"], listing.names + listing.bad_names)
    ingest(env["connect"], env["redo"], env["bronze"], sorted(os.listdir(env["redo"])))
    assert report.faults["changed_redelivery"] and report.faults["corrupt_json"]  # the tests exercise both


def bronze_files(bronze: Path) -> dict[str, str]:
    """sha256 of every loose file under the apartment folders, keyed by path relative to Bronze."""
    files = {}
    for apartment in APARTMENTS:
        for path in (bronze / apartment).rglob("*"):
            if path.is_file() and not path.name.endswith(".tar.gz"):
                files[path.relative_to(bronze).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def archived_files(bronze: Path) -> dict[str, str]:
    """The same view, read from the day archives (``<apt>/YYYY/MM/DD.tar.gz`` member ``HH/name``)."""
    files = {}
    for day_archive in sorted(bronze.rglob("*.tar.gz")):
        prefix = day_archive.relative_to(bronze).as_posix()[: -len(".tar.gz")]
        for rel, digest in archive_digests(day_archive).items():
            files[f"{prefix}/{rel}"] = digest
    return files


def compact(env, **kwargs) -> compaction.CompactionReport:
    """Compaction as the DAG runs it: retention 30 days, checked against the manifest (settle time off)."""
    args = {"today": TODAY, "retention_days": 30, "settle_hours": 0,
            "known": compaction.manifest_lookup(env["connect"]), **kwargs}
    return compact_sensor_days(env["bronze"], **args)


def replay_all(connect, bronze: Path, scratch: Path) -> None:
    for day in DAYS:
        for apartment in APARTMENTS:
            replay.replay_archived_day(connect, bronze, apartment, day, tmp_root=scratch)


# ------------------------------------------------------------------------------------------------ compaction


def test_compaction_keeps_every_file_replayable(env, fresh_db):
    generate_and_load(env, FULL, FAULTS)
    silver = snapshot(env["connect"])
    originals = bronze_files(env["bronze"])
    assert any(len(name.rsplit(".", 1)[-1]) == 12 for name in originals)  # re-delivered versions are there

    report = compact(env)

    summary = report.summary()
    assert summary["days_by_action"] == {"archived": 4}
    assert summary["files_archived"] == summary["files_removed"] == len(originals) and not summary["files_kept"]
    assert bronze_files(env["bronze"]) == {}  # no loose file left
    for apartment in APARTMENTS:
        for day in DAYS:
            assert archive_path(env["bronze"], apartment, day).is_file()
            assert not day_folder(env["bronze"], apartment, day).exists()
            # The members hold the payloads' api_token, as the loose files did: not world-readable.
            assert archive_path(env["bronze"], apartment, day).stat().st_mode & 0o007 == 0
    assert archived_files(env["bronze"]) == originals  # every file, every version, same bytes

    # A fresh warehouse fed only from the archives holds exactly the same Silver.
    conninfo = fresh_db()
    replay_all(lambda: psycopg.connect(conninfo), env["bronze"], env["scratch"])
    assert snapshot(lambda: psycopg.connect(conninfo)) == silver
    with psycopg.connect(conninfo) as conn:  # where each file lives in Bronze, not the extraction folder
        paths = [path for (path,) in conn.execute("SELECT bronze_path FROM silver.file_manifest WHERE status = "
                                                  "'loaded'")]
    assert paths and all(path.startswith(str(env["bronze"]) + "/") for path in paths)
    assert {str(Path(path).parent.parent) for path in paths} == {
        str(day_folder(env["bronze"], apartment, day)) for apartment in APARTMENTS for day in DAYS}
    # ... and replaying a day again changes nothing.
    stats = replay.replay_archived_day(lambda: psycopg.connect(conninfo), env["bronze"], "jimmy", DAYS[0],
                                            tmp_root=env["scratch"])
    assert stats.files_seen == 0 and stats.files_loaded == 0  # every version is known: nothing to load
    assert snapshot(lambda: psycopg.connect(conninfo)) == silver


def test_archived_day_paths_yields_the_bronze_names_in_replay_order(env):
    generate_and_load(env)
    day, apartment = DAYS[0], "jimmy"
    folder = day_folder(env["bronze"], apartment, day)
    loose = {p.relative_to(folder).as_posix(): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}
    compact(env)
    with replay.archived_day_paths(env["bronze"], apartment, day, env["scratch"]) as paths:
        root = Path(paths[0]).parents[1]
        rels = [Path(p).relative_to(root).as_posix() for p in paths]
        assert sorted(rels) == sorted(loose)
        assert all(Path(p).stat().st_mtime == loose[rel] for p, rel in zip(paths, rels, strict=True))
        generations = replay.replay_generations(paths)
        assert sum(map(len, generations)) == len(paths) and len(generations) == 2
        assert all(len(Path(p).name.rsplit(".", 1)[-1]) == 12 for p in generations[1])  # re-deliveries last
    assert not root.exists()  # removed after use
    with pytest.raises(FileNotFoundError, match="no Bronze archive"):
        replay.archived_day_paths(env["bronze"], apartment, DAYS[0] - timedelta(days=3)).__enter__()


def test_compaction_is_idempotent(env):
    generate_and_load(env)
    compact(env)
    archives = {p: p.read_bytes() for p in env["bronze"].rglob("*.tar.gz")}
    again = compact(env)
    assert again.days == [] and again.summary()["files_archived"] == 0
    assert {p: p.read_bytes() for p in env["bronze"].rglob("*.tar.gz")} == archives


def test_crash_between_archive_write_and_delete_loses_nothing(env, monkeypatch):
    generate_and_load(env)
    originals = bronze_files(env["bronze"])

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("killed after the archive rename, before any loose file was removed")

    monkeypatch.setattr(compaction, "_remove_archived", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(env)
    monkeypatch.undo()
    # One archive complete, every loose file still there.
    assert bronze_files(env["bronze"]) == originals
    first = sorted(env["bronze"].rglob("*.tar.gz"))
    assert len(first) == 1
    crashed_archive = first[0].read_bytes()

    # Crash half-way through the removals of the next day.
    real = compaction._remove_archived

    def crash_half_way(loose, members):
        items = list(loose.items())
        real(dict(items[: len(items) // 2]), members)
        raise KeyboardInterrupt("killed while removing loose files")

    monkeypatch.setattr(compaction, "_remove_archived", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        compact(env)
    monkeypatch.undo()
    assert len(list(env["bronze"].rglob("*.tar.gz"))) == 1  # the first day was only cleaned up

    # The next run finishes the job; the archives hold every original file.
    report = compact(env)
    assert first[0].read_bytes() == crashed_archive  # the archive was not rewritten, only the folder removed
    assert "cleaned" in report.summary()["days_by_action"]
    assert bronze_files(env["bronze"]) == {}
    assert archived_files(env["bronze"]) == originals


def test_crash_while_writing_the_archive_leaves_the_folder(env, monkeypatch):
    generate_and_load(env)
    originals = bronze_files(env["bronze"])
    calls = {"n": 0}
    real_add = archive._add

    def add_then_die(*args):
        calls["n"] += 1
        if calls["n"] == 30:
            raise OSError(28, "No space left on device")
        real_add(*args)

    monkeypatch.setattr(archive, "_add", add_then_die)
    with pytest.raises(OSError, match="No space left"):
        compact(env)
    monkeypatch.undo()
    assert bronze_files(env["bronze"]) == originals
    assert list(env["bronze"].rglob("*.tar.gz")) == []
    assert [p for p in env["bronze"].rglob(".*") if p.is_file()] == []  # the temporary was removed
    # A temporary left by a SIGKILLed writer is incomplete by construction: removed, then the day archived.
    month = day_folder(env["bronze"], "jimmy", DAYS[0]).parent
    stale = month / ".14.tar.gz.tmp-999999"
    stale.write_bytes(b"\x1f\x8b half an archive")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    report = compact(env)
    assert report.stale_tmp_removed == 1 and not stale.exists()
    assert archived_files(env["bronze"]) == originals and bronze_files(env["bronze"]) == {}


def test_file_arriving_after_compaction_is_merged_into_the_archive(env):
    generate_and_load(env)
    compact(env)
    day, apartment = DAYS[0], "jimmy"
    day_archive = archive_path(env["bronze"], apartment, day)
    before = archive_digests(day_archive)
    # A late re-delivery with new content: Bronze no longer holds the loose first version, so the copy stores
    # it under the plain name beside the archive.
    name = "14.09.2023 2330_JimmyLoup_received.json"
    (env["share"] / name).write_bytes(b'{"datetime": "14.09.2023 23:30", "plugs": {"Office": {"power": 5}}}')
    ingest(env["connect"], env["share"], env["bronze"], [name])
    assert (day_folder(env["bronze"], apartment, day) / "23" / name).is_file()
    report = compact(env)
    assert report.summary()["days_by_action"] == {"merged": 1}
    after = archive_digests(day_archive)
    added = set(after) - set(before)
    assert {k: after[k] for k in before} == before and len(added) == 1
    (rel,) = added
    digest = hashlib.sha256((env["share"] / name).read_bytes()).hexdigest()
    assert rel == f"23/{name}.{digest[:12]}" and after[rel] == digest
    assert not day_folder(env["bronze"], apartment, day).exists()


def test_a_day_with_a_file_silver_never_loaded_is_not_compacted(env):
    generate_and_load(env)
    # A file copied to Bronze whose load never happened (the load task failed, say).
    name = "15.09.2023 0030_JimmyLoup_received.json"
    late = env["share"] / "late"
    late.mkdir()
    (late / name).write_bytes(b'{"datetime": "15.09.2023 00:30", "plugs": {"Office": {"power": 7}}}')
    with env["connect"]() as conn:
        copy_to_bronze(late, [name], env["bronze"], known_checksums(conn, [name]), apartments=REGISTRY)
    report = compact(env)
    summary = report.summary()
    assert summary["unloaded_days"] == ["jimmy/2023-09-15"] and summary["days_by_action"]["archived"] == 3
    folder = day_folder(env["bronze"], "jimmy", DAYS[1])
    assert not archive_path(env["bronze"], "jimmy", DAYS[1]).exists()
    stored = [p for p in folder.rglob("*") if p.is_file()]
    assert len(stored) > 1 and any(p.name.startswith(name) for p in stored)  # untouched, the new file too
    # Once the day is loaded, the next run packs it.
    load_bronze_files(env["connect"], [str(p) for p in stored if p.name.startswith(name)])
    assert compact(env).summary()["days_by_action"] == {"archived": 1}
    assert not folder.exists()


def test_restore_for_sensors_daily_replays_only_what_the_manifest_lacks(env, fresh_db):
    generate_and_load(env)
    silver = snapshot(env["connect"])
    compact(env)
    assert replay.restore_archived_day(env["bronze"], DAYS[0], env["connect"]) == []  # all loaded
    conninfo = fresh_db()
    connect = lambda: psycopg.connect(conninfo)  # noqa: E731
    for day in DAYS:
        paths = replay.restore_archived_day(env["bronze"], day, connect)
        assert paths and all(p.startswith(str(env["bronze"])) for p in paths)  # back at their Bronze paths
        assert all(os.stat(p).st_mode & 0o007 == 0 for p in paths)  # restored as private as they were
        for generation in replay.replay_generations(paths):
            load_bronze_files(connect, generation)
    assert snapshot(connect) == silver
    with connect() as conn:  # the manifest points at the real Bronze paths again
        assert conn.execute("SELECT count(*) FROM silver.file_manifest WHERE bronze_path NOT LIKE %s",
                            (str(env["bronze"]) + "/%",)).fetchone()[0] == 0
    # As sensors_daily would use it (restore, then one load of the day's paths): the same readings, and a
    # re-run of the day restores nothing.
    other = fresh_db()
    connect_other = lambda: psycopg.connect(other)  # noqa: E731
    for day in DAYS:
        load_bronze_files(connect_other, replay.restore_archived_day(env["bronze"], day, connect_other))
    assert snapshot(connect_other)[0] == silver[0] and snapshot(connect_other)[3] == silver[3]
    assert [replay.restore_archived_day(env["bronze"], day, connect_other) for day in DAYS] == [[], []]
    # The restored files are absorbed again by the next compaction (identical to their members).
    archives = {p: p.read_bytes() for p in env["bronze"].rglob("*.tar.gz")}
    report = compact(env)
    assert report.summary()["days_by_action"] == {"cleaned": 4}
    assert bronze_files(env["bronze"]) == {} and {p: p.read_bytes() for p in archives} == archives


def test_replay_never_brings_back_an_older_version(env, fresh_db):
    generate_and_load(env)
    compact(env)
    events = snapshot(env["connect"])[0]
    # A warehouse that has seen only the newest version of each name: each day's files in one load call (the
    # loader keeps the last version of a name within a batch and does not record the others).
    conninfo = fresh_db()
    connect = lambda: psycopg.connect(conninfo)  # noqa: E731
    for day in DAYS:
        for apartment in APARTMENTS:
            with replay.archived_day_paths(env["bronze"], apartment, day, env["scratch"]) as paths:
                load_bronze_files(connect, paths)
    assert snapshot(connect)[0] == events
    with connect() as conn:
        assert conn.execute("SELECT count(*) FROM silver.file_manifest WHERE NOT is_current").fetchone()[0] == 0
    # Neither the restore for sensors_daily nor a replay goes back to a first version.
    for day in DAYS:
        assert replay.restore_archived_day(env["bronze"], day, connect) == []
        for apartment in APARTMENTS:
            stats = replay.replay_archived_day(connect, env["bronze"], apartment, day, tmp_root=env["scratch"])
            assert stats.files_loaded == 0
    assert snapshot(connect)[0] == events


def test_recent_days_and_unsettled_files_are_never_touched(tmp_path):
    bronze = tmp_path / "bronze"
    today = date(2031, 3, 30)  # any date: the run's day and clock are given, never read from the machine
    days = {"today": today, "young": today - timedelta(days=29), "edge": today - timedelta(days=30),
            "old": today - timedelta(days=31)}
    for day in days.values():
        folder = day_folder(bronze, "jimmy", day) / "10"
        folder.mkdir(parents=True)
        (folder / f"{day:%d.%m.%Y} 1000_JimmyLoup_received.json").write_text("{}")
    (bronze / "_quarantine").mkdir()
    (bronze / "_quarantine" / "junk.json").write_text("?")
    # Files created just now are not settled yet: nothing happens with the default settle time.
    created = max(p.stat().st_ctime for p in bronze.rglob("*.json"))
    report = compact_sensor_days(bronze, today=today, retention_days=30, now=created + 1)
    assert report.summary()["unsettled_days"] == [f"jimmy/{days['old']}"]
    report = compact_sensor_days(bronze, today=today, retention_days=30, settle_hours=0)
    assert report.summary()["days_by_action"] == {"archived": 1} and report.cutoff == days["edge"].isoformat()
    for label, day in days.items():
        assert archive_path(bronze, "jimmy", day).exists() == (label == "old"), label
        assert day_folder(bronze, "jimmy", day).exists() == (label != "old"), label
    assert (bronze / "_quarantine" / "junk.json").exists()
    with pytest.raises(ConfigurationError, match="bronze_retention_days"):
        compact_sensor_days(bronze, today=today, retention_days=0)
    assert compact_sensor_days(bronze, today=today, retention_days=-1, settle_hours=0).disabled


def test_weather_files_are_gzipped_verified_and_still_readable(tmp_path):
    from domotic import weather
    from domotic.weather import load as weather_load

    bronze = tmp_path / "bronze"
    old, young = date(2023, 9, 14), date(2031, 3, 30)
    contents = {}
    for day, names in ((old, ["Pred_2023-09-14.csv", "Pred_2023-09-14~0123456789ab.csv"]),
                       (young, [f"Pred_{young}.csv"])):
        folder = weather.bronze_day_dir(bronze, day)
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_text("Time,Site,Value\n2023-09-14 00:00,Sion,12.5\n" * 50)
            contents[folder / name] = (folder / name).read_bytes()
    report = weather_files.compress_weather_files(bronze, today=young, retention_days=30, settle_hours=0)
    assert report.weather_files_compressed == 2
    for path, data in contents.items():
        gz = path.with_name(path.name + ".gz")
        if young.strftime("%Y/%m/%d") in str(path):
            assert path.exists() and not gz.exists()
        else:
            assert not path.exists() and gzip.decompress(gz.read_bytes()) == data
            assert weather_load.existing_bronze_copy(path) == gz  # the weather loader finds the compacted form
    # Crash after the .gz rename, before the original's removal: the next run only removes the original.
    path = next(p for p in contents if young.strftime("%Y/%m/%d") not in str(p))
    path.write_bytes(contents[path])
    again = weather_files.compress_weather_files(bronze, today=young, retention_days=30, settle_hours=0)
    assert again.weather_originals_removed == 1 and again.weather_files_compressed == 0 and not path.exists()


# ------------------------------------------------------------------------------------------------ backups


def test_backup_is_restorable_and_old_dumps_are_pruned(env, pg_service, fresh_db, tmp_path):
    generate_and_load(env)
    silver = snapshot(env["connect"])
    backups = tmp_path / "backups"
    result = backup.dump_warehouse(backups, date(2023, 11, 1), *pg_command_env())
    dump = Path(result["path"])
    assert dump.name == "domotic_20231101.dump" and result["size_bytes"] > 0
    assert [p.name for p in backups.iterdir()] == [dump.name]  # no temporary left
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600  # every tenant's data: the owner only
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True)
    assert "TABLE DATA silver sensor_readings" in listing.stdout
    # Restore into an empty database: identical Silver.
    target = f"domotic_test_{uuid.uuid4().hex[:10]}"
    from domotic_dev import services

    services.create_database(pg_service, target)
    try:
        subprocess.run(["pg_restore", "--no-owner", "-h", pg_service.host, "-p", str(pg_service.port), "-U",
                        pg_service.user, "-d", target, str(dump)], check=True, capture_output=True)
        restored = f"host={pg_service.host} port={pg_service.port} user={pg_service.user} dbname={target}"
        assert snapshot(lambda: psycopg.connect(restored)) == silver
    finally:
        drop_database(pg_service, target)

    # Retention by the date in the name; the newest dump always stays; other files are never touched; a roles
    # script goes with its dump.
    for stamp in ("20231001", "20231017", "20231018", "20231031"):
        (backups / f"domotic_{stamp}.dump").write_bytes(b"old")
    (backups / "domotic_20231001.roles.sql").write_text("-- old")
    (backups / "notes.txt").write_text("keep me")
    stale = backups / ".domotic_20231020.dump.tmp-4242"
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    deleted = backup.prune_backups(backups, date(2023, 11, 1), 14)
    assert sorted(Path(p).name for p in deleted) == [stale.name, "domotic_20231001.dump",
                                                     "domotic_20231001.roles.sql", "domotic_20231017.dump"]
    assert sorted(p.name for p in backups.iterdir()) == [
        "domotic_20231018.dump", "domotic_20231031.dump", "domotic_20231101.dump", "notes.txt"]
    assert backup.prune_backups(backups, date(2024, 6, 1), 14) == [
        str(backups / n) for n in ("domotic_20231018.dump", "domotic_20231031.dump")]
    assert [p.name for p in backups.glob("*.dump")] == ["domotic_20231101.dump"]  # the newest, however old
    with pytest.raises(ConfigurationError):
        backup.prune_backups(backups, date(2024, 6, 1), 0)


def test_backup_fails_clearly(env, tmp_path, monkeypatch, pg_service):
    with pytest.raises(backup.BackupError, match="not found on PATH"):
        backup.dump_warehouse(tmp_path / "b", date(2023, 11, 1), *pg_command_env(),
                              pg_dump_bin="pg_dump_does_not_exist")
    bad = json.loads(pg_conn_json(pg_service, "no_such_database_xyz"))
    monkeypatch.setenv("AIRFLOW_CONN_DOMOTIC_POSTGRES", json.dumps(bad))
    with pytest.raises(backup.BackupError, match=r"exit code 1:\n.*no_such_database_xyz"):
        backup.dump_warehouse(tmp_path / "b", date(2023, 11, 1), *pg_command_env())
    assert list((tmp_path / "b").iterdir()) == []


def test_password_goes_to_the_environment_never_the_command_line(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DOMOTIC_POSTGRES", json.dumps(
        {"conn_type": "postgres", "host": "db.example", "port": 6543, "login": "etl", "password": "s3cr3t!",
         "schema": "domotic", "extra": {"sslmode": "require"}}))
    args, env = pg_command_env()
    assert "s3cr3t!" not in " ".join(args)
    assert args == ["-w", "-d", "domotic", "-h", "db.example", "-p", "6543", "-U", "etl"]
    assert env["PGPASSWORD"] == "s3cr3t!" and env["PGSSLMODE"] == "require"


# ------------------------------------------------------------------------------------------------ vacuum, report


def test_big_tables_lists_the_existing_ones_and_vacuum_runs(env):
    generate_and_load(env)
    with env["connect"]() as conn:
        tables = vacuum.big_tables(conn)
    assert tables[0] == "silver.sensor_readings"  # largest first
    assert set(tables) == {"silver.sensor_readings", "silver.file_manifest", "silver.sensor_series",
                           "silver.weather_forecasts", "silver.weather_clean", "silver.weather_file_manifest",
                           "silver.weather_file_stats", "gold.fact_energy_minute", "gold.fact_environment_minute",
                           "gold.fact_presence_minute", "gold.fact_device_health_day", "gold.fact_weather_hour",
                           "gold.fact_weather_hour_revision", "gold.fact_ml_predictions"}  # not the dimensions
    statements = vacuum.vacuum_statements(tables)  # what vacuum_analyze runs
    assert statements[0] == "VACUUM (ANALYZE) silver.sensor_readings"
    with psycopg.connect(env["conninfo"], autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
    assert vacuum.vacuum_statements([]) == [vacuum.NOTHING_TO_VACUUM]  # the operator refuses an empty list


def test_disk_report_sizes_and_free_space_check(env, tmp_path):
    generate_and_load(env)
    compact(env, today=date(2023, 9, 16), retention_days=1)  # only the first day is archived
    (env["bronze"] / "weather" / "2023" / "09" / "14").mkdir(parents=True)
    (env["bronze"] / "weather" / "2023" / "09" / "14" / "Pred_2023-09-14.csv").write_text("a,b\n1,2\n")
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "domotic_20231101.dump").write_bytes(b"x" * 1000)
    report = disk.disk_report(env["bronze"], backups, datetime(2023, 11, 1, 5, tzinfo=UTC), env["connect"])
    assert report["generated_at"] == "2023-11-01T05:00:00+00:00"
    json.dumps(report)  # XCom-serialisable
    for apartment in APARTMENTS:
        usage = report["bronze"][apartment]
        assert usage["archive_files"] == 1 and usage["archive_bytes"] > 0
        assert usage["loose_files"] >= 60 and usage["loose_bytes"] > usage["archive_bytes"]
    assert report["bronze"]["weather"] == {"loose_files": 1, "loose_bytes": 8, "archive_files": 0,
                                           "archive_bytes": 0, "total_bytes": 8}
    assert report["backups"]["dumps"] == 1 and report["backups"]["dump_bytes"] == 1000
    assert report["largest_tables"][0]["table_name"] == "silver.sensor_readings"
    assert report["database_bytes"] > report["largest_tables"][0]["total_bytes"] > 0
    assert report["filesystems"]["bronze"]["free_bytes"] > 0
    assert "silver.sensor_readings" in disk.format_report(report)
    assert disk.check_free_space(report, 0)["bronze_free_gb"] > 0
    with pytest.raises(disk.DiskSpaceLowError, match="disk_free_min_gb"):
        disk.check_free_space(report, 10**9)


def test_the_backup_filesystem_is_watched_too(env, small_filesystem):
    """A full backup folder fails the check (it makes every dump fail), even when Bronze has room."""
    backups = small_filesystem.make(256 * 1024)
    with pytest.raises(OSError, match="No space left"), (backups / "filler").open("wb") as filler:
        while True:
            filler.write(b"x" * 4096)
            filler.flush()
    report = disk.disk_report(env["bronze"], backups, datetime(2023, 11, 1, 5, tzinfo=UTC))
    assert report["filesystems"]["backups"]["free_bytes"] == 0
    with pytest.raises(disk.DiskSpaceLowError, match=r"the backups filesystem .* has 0\.00 GiB free"):
        disk.check_free_space(report, 0.001)


def test_a_table_never_analyzed_is_reported_as_unknown_not_empty(env):
    with env["connect"]() as conn:
        conn.execute("CREATE TABLE ops.never_analyzed AS SELECT generate_series(1, 10) AS n")
        conn.execute("INSERT INTO ops.never_analyzed SELECT generate_series(11, 20)")
        tables = {t["table_name"]: t for t in disk.largest_tables(conn, 1000)}
    assert tables["ops.never_analyzed"]["estimated_rows"] is None
    text = disk.format_report({"bronze": {}, "backups": {"dumps": 0, "dump_bytes": 0}, "filesystems": {},
                               "largest_tables": [tables["ops.never_analyzed"]], "database_bytes": 0})
    assert "rows unknown: never analyzed" in text and "~0 rows" not in text



def test_sensors_daily_replays_archived_days_from_a_completely_empty_share(env, fresh_db, monkeypatch, pg_service):
    """Runbook 7.1: a share emptied for good still lets sensors_daily replay every archived day; a day with no
    archive then fails as "not mounted", as an empty share always did."""
    from domotic.errors import SourceMissingError
    from domotic.sensors import tasks as sensor_pipeline

    generate_and_load(env)
    compact(env)
    for name in os.listdir(env["share"]):
        os.remove(env["share"] / name)
    conninfo = fresh_db()
    monkeypatch.setenv("AIRFLOW_CONN_DOMOTIC_POSTGRES", pg_conn_json(pg_service, conninfo.rsplit("dbname=", 1)[1]))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(env["share"]))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(env["bronze"]))
    for day in DAYS:
        (chunk,) = sensor_pipeline.list_day(day)
        assert chunk and all(os.path.isabs(p) for p in chunk)
        assert sensor_pipeline.ingest_chunk(chunk)["files_loaded"] > 0
    with pytest.raises(SourceMissingError, match="is empty: is the SMB share mounted"):
        sensor_pipeline.list_day(DAYS[-1] + timedelta(days=5))


def test_sensors_daily_replays_a_compacted_day_the_share_no_longer_holds(env, fresh_db, monkeypatch, pg_service):
    import json

    from domotic.sensors import tasks as sensor_pipeline

    generate_and_load(env)
    silver = snapshot(env["connect"])
    compact(env)
    for name in os.listdir(env["share"]):  # the share was cleaned of the first day; the second day stays
        if name.startswith(DAYS[0].strftime("%d.%m.%Y ")):
            os.remove(env["share"] / name)
    conninfo = fresh_db()
    dbname = conninfo.rsplit("dbname=", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_DOMOTIC_POSTGRES", json.dumps(
        {"conn_type": "postgres", "host": pg_service.host, "port": pg_service.port, "login": pg_service.user,
         "schema": dbname}))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(env["share"]))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(env["bronze"]))
    chunks = sensor_pipeline.list_day(DAYS[0])
    assert len(chunks) == 1 and all(os.path.isabs(p) for p in chunks[0])  # restored from the archives
    summary = sensor_pipeline.merge_summaries([sensor_pipeline.ingest_chunk(chunk) for chunk in chunks])
    assert summary["files_loaded"] > 0
    for day in DAYS[1:]:
        for chunk in sensor_pipeline.list_day(day):
            sensor_pipeline.ingest_chunk(chunk)
    ingest(lambda: psycopg.connect(conninfo), env["redo"], env["bronze"],
           [n for n in sorted(os.listdir(env["redo"])) if not n.startswith(DAYS[0].strftime("%d.%m.%Y "))])
    replayed = snapshot(lambda: psycopg.connect(conninfo))
    assert replayed[0] == silver[0]  # identical readings
