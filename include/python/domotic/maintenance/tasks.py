"""The task bodies of the ``maintenance_*`` DAGs: the only module of the package that reads settings or opens
connections.

Each ``run_*`` reads its Variables (typed, ``domotic.airflow_adapter.setting``) and connections at run time and
calls its job module with plain values. The DAG file passes ``now``: the wall clock is read there only.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from domotic.airflow_adapter import pg_command_env, setting, warehouse_connection
from domotic.errors import storage_errors
from domotic.maintenance.backup import dump_warehouse, make_room, prune_backups, roles_script
from domotic.maintenance.compaction import CompactionIncompleteError, compact_sensor_days, manifest_lookup
from domotic.maintenance.disk import check_free_space, disk_report, format_report, human_bytes
from domotic.maintenance.vacuum import big_tables, vacuum_statements
from domotic.maintenance.weather_files import compress_weather_files
from domotic.settings import POSTGRES_CONN_ID

log = logging.getLogger(__name__)


def _run_day(logical_date: datetime | None, now: datetime) -> date:
    """The run's UTC date, never later than the current day (``now``: the clock the task was given)."""
    today = now.astimezone(UTC).date()
    if logical_date is None:
        return today
    return min(logical_date.astimezone(UTC).date(), today)


def _bronze_root() -> Path:
    return Path(setting("domotic_bronze_root"))


def _retention_args(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    return {"today": _run_day(logical_date, now), "now": now.timestamp(),
            "retention_days": setting("bronze_retention_days"),
            "settle_hours": setting("bronze_compaction_settle_hours")}


def run_compact_sensor_days(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    """``maintenance_bronze_compaction.compact_sensor_days``: fails at the end when a day could not be packed."""
    with storage_errors(f"Bronze {_bronze_root()}"):
        report = compact_sensor_days(_bronze_root(), known=manifest_lookup(warehouse_connection),
                                     **_retention_args(logical_date, now))
    summary = report.summary()
    log.info("Bronze compaction: %s", summary)
    if summary["unloaded_days"]:
        raise CompactionIncompleteError(
            f"Bronze days older than the retention hold files Silver never loaded: {summary['unloaded_days']}; "
            "they were left uncompacted. Re-run sensors_daily for those days (see the log for the files).")
    if summary["files_kept"]:
        raise CompactionIncompleteError(
            f"{summary['files_kept']} loose Bronze files did not match their day archive and were kept; see the "
            "log (nothing was lost)")
    return summary


def run_compress_weather(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    """``maintenance_bronze_compaction.compress_weather_files``."""
    with storage_errors(f"Bronze {_bronze_root()}"):
        summary = compress_weather_files(_bronze_root(), **_retention_args(logical_date, now)).summary()
    log.info("Weather compression: %s", summary)
    return summary


def run_list_big_tables() -> list[str]:
    """``maintenance_vacuum.list_big_tables``: the statements ``vacuum_analyze`` runs (its ``sql``)."""
    conn = warehouse_connection()
    try:
        tables = big_tables(conn)
    finally:
        conn.close()
    if tables:
        log.info("Tables to VACUUM ANALYZE: %s", tables)
    else:
        log.warning("No big table exists yet (include/sql/maintenance/big_tables.sql): nothing to VACUUM")
    return vacuum_statements(tables)


def run_backup(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    """``maintenance_backup.dump_warehouse``: expired dumps go first when space is short, then the dump and the
    roles script it needs on a new server."""
    backup_dir, day = Path(setting("backup_dir")), _run_day(logical_date, now)
    pg_args, pg_env = pg_command_env(POSTGRES_CONN_ID)
    with storage_errors(f"backup folder {backup_dir}"):
        freed = make_room(backup_dir, day, setting("backup_retention_days"), now=now.timestamp())
    with warehouse_connection() as conn:
        roles = roles_script(conn)
    result = dump_warehouse(backup_dir, day, pg_args, pg_env, pg_dump_bin=setting("pg_dump_bin"),
                            source=f"connection {POSTGRES_CONN_ID}", roles_sql=roles)
    log.info("Backup written: %s (%s in %.1f s), roles script %s", result["path"],
             human_bytes(result["size_bytes"]), result["seconds"], result["roles_path"])
    return {**result, "freed_before": freed}


def run_prune_backups(logical_date: datetime | None, now: datetime) -> list[str]:
    """``maintenance_backup.prune_old_backups`` (runs after a successful dump; ``run_backup`` prunes first
    itself when the folder is too full to take one)."""
    backup_dir = Path(setting("backup_dir"))
    with storage_errors(f"backup folder {backup_dir}"):
        return prune_backups(backup_dir, _run_day(logical_date, now), setting("backup_retention_days"),
                             now=now.timestamp())


def run_disk_report(now: datetime) -> dict[str, Any]:
    """``maintenance_disk_report.measure_disk_usage``."""
    report = disk_report(_bronze_root(), Path(setting("backup_dir")), now, warehouse_connection)
    log.info("Disk usage report\n%s", format_report(report))
    return report


def run_check_free_space(report: dict[str, Any]) -> dict[str, Any]:
    """``maintenance_disk_report.check_free_space``: raises ``DiskSpaceLowError`` under the minimum."""
    return check_free_space(report, setting("disk_free_min_gb"))
