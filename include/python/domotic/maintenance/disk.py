"""The daily disk-usage report (Bronze per folder, backups, filesystems, largest tables) and the free-space check.

The report is plain JSON (it goes to XCom); ``check_free_space`` raises ``DiskSpaceLowError`` (an alert: retrying
cannot free space) when the Bronze filesystem is under the minimum.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domotic.errors import PermanentError
from domotic.maintenance.archive import ARCHIVE_SUFFIX
from domotic.maintenance.backup import BACKUP_NAME_RE
from domotic.maintenance.bronze_tree import WEATHER_DIR
from domotic.paths import SQL_DIR

log = logging.getLogger(__name__)


class DiskSpaceLowError(PermanentError):
    """Free space under the configured minimum (retrying cannot free space: fail at once and alert)."""


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


@dataclass
class TreeUsage:
    loose_files: int = 0
    loose_bytes: int = 0
    archive_files: int = 0
    archive_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.loose_bytes + self.archive_bytes


def disk_report(bronze_root: Path, backup_dir: Path, now: datetime, connect: Callable[[], Any] | None = None,
                top_tables: int = 10) -> dict[str, Any]:
    """Sizes of Bronze (per apartment, weather; archives vs loose files), backups and the largest tables."""
    bronze = bronze_usage(bronze_root)
    backups = _tree_usage(Path(backup_dir), lambda name: bool(BACKUP_NAME_RE.match(name)))
    report: dict[str, Any] = {
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "bronze": bronze,
        "bronze_total_bytes": sum(item["total_bytes"] for item in bronze.values()),
        "backups": {"dumps": backups.archive_files, "dump_bytes": backups.archive_bytes,
                    "other_files": backups.loose_files, "other_bytes": backups.loose_bytes},
        "filesystems": {"bronze": _free(bronze_root), "backups": _free(backup_dir)},
    }
    if connect is not None:
        conn = connect()
        try:
            report["largest_tables"] = largest_tables(conn, top_tables)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_database_size(current_database())")
                report["database_bytes"] = cur.fetchone()[0]
        finally:
            conn.close()
    return report


def bronze_usage(bronze_root: Path) -> dict[str, dict[str, int]]:
    """Per top-level Bronze folder (each apartment, ``weather``, ``_quarantine``): loose files vs archives."""
    root = Path(bronze_root)
    result: dict[str, dict[str, int]] = {}
    if not root.is_dir():
        return result
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name == WEATHER_DIR:
            usage = _tree_usage(Path(entry.path), lambda name: name.endswith(".gz"))
        else:
            usage = _tree_usage(Path(entry.path), lambda name: name.endswith(ARCHIVE_SUFFIX))
        result[entry.name] = {**asdict(usage), "total_bytes": usage.total_bytes}
    return result


def _tree_usage(folder: Path, is_archive: Callable[[str], bool]) -> TreeUsage:
    usage = TreeUsage()
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                if is_archive(entry.name):
                    usage.archive_files += 1
                    usage.archive_bytes += size
                else:
                    usage.loose_files += 1
                    usage.loose_bytes += size
    return usage


def largest_tables(conn: Any, limit: int = 10) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute((SQL_DIR / "maintenance" / "largest_tables.sql").read_text(), {"limit": limit})
        columns = [c.name for c in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _free(path: Path) -> dict[str, int | str]:
    # The folder may not exist yet (a fresh deployment): measure the filesystem it will be created on.
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {"path": str(path), "total_bytes": usage.total, "used_bytes": usage.used, "free_bytes": usage.free}


def format_report(report: dict[str, Any]) -> str:
    lines = ["Bronze:"]
    for name, usage in report["bronze"].items():
        lines.append(f"  {name:<12} {human_bytes(usage['total_bytes']):>11}  loose {usage['loose_files']} files "
                     f"{human_bytes(usage['loose_bytes'])}, archives {usage['archive_files']} "
                     f"{human_bytes(usage['archive_bytes'])}")
    backups = report["backups"]
    lines.append(f"Backups: {backups['dumps']} dumps, {human_bytes(backups['dump_bytes'])}")
    for name, fs in report["filesystems"].items():
        lines.append(f"Filesystem of {name} ({fs['path']}): {human_bytes(fs['free_bytes'])} free of "
                     f"{human_bytes(fs['total_bytes'])}")
    if "largest_tables" in report:
        lines.append(f"Warehouse: {human_bytes(report['database_bytes'])}; largest tables:")
        for table in report["largest_tables"]:
            rows = table["estimated_rows"]
            estimate = "rows unknown: never analyzed" if rows is None else f"~{rows} rows"
            lines.append(f"  {table['table_name']:<40} {human_bytes(table['total_bytes']):>11}  ({estimate})")
    return "\n".join(lines)


def check_free_space(report: dict[str, Any], min_free_gb: float) -> dict[str, Any]:
    """Raise DiskSpaceLowError (an alert) when the Bronze or the backups filesystem has less than
    ``min_free_gb`` free (a full backup folder makes every dump fail)."""
    result: dict[str, Any] = {"min_free_gb": min_free_gb}
    low = []
    for name, fs in report["filesystems"].items():
        free_gb = fs["free_bytes"] / 1024**3
        result[f"{name}_free_gb"] = round(free_gb, 2)
        if free_gb < min_free_gb:
            low.append(f"the {name} filesystem {fs['path']} has {free_gb:.2f} GiB free")
    if low:
        message = (f"{'; '.join(low)}: below disk_free_min_gb={min_free_gb:g} (Bronze "
                   f"{human_bytes(report['bronze_total_bytes'])}, backups "
                   f"{human_bytes(report['backups']['dump_bytes'])}): lower bronze_retention_days or "
                   "backup_retention_days, or add space")
        log.warning("DISK SPACE LOW: %s", message)
        raise DiskSpaceLowError(message)
    return result
