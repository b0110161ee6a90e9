"""Warehouse backups: ``pg_dump -Fc`` into ``backup_dir/domotic_YYYYMMDD.dump``, test-read, and their retention.

The libpq arguments and environment come from the caller (``domotic.airflow_adapter.pg_command_env``: the
password only ever in ``PGPASSWORD``). A dump replaces an earlier one of the same day only once it is complete
and ``pg_restore --list`` reads it; old dumps are deleted by the date in their name, never the newest one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic.errors import ConfigurationError, PermanentError
from domotic.maintenance.atomic import TMP_MARK, atomic_path

log = logging.getLogger(__name__)

BACKUP_NAME_RE = re.compile(r"^domotic_(\d{8})\.dump$")
# A dump of the warehouse takes hours at most: a temporary older than this belongs to a crashed dump.
_STALE_DUMP_SECONDS = 86400


class BackupError(PermanentError):
    """pg_dump is missing or failed; the message carries its exit code and error output."""


def backup_name(day: date) -> str:
    return f"domotic_{day:%Y%m%d}.dump"


def dump_warehouse(backup_dir: Path, day: date, pg_args: list[str], pg_env: dict[str, str], *,
                   pg_dump_bin: str = "pg_dump", source: str = "the warehouse",
                   timeout_seconds: float = 6 * 3600) -> dict[str, Any]:
    """``pg_dump -Fc`` into ``backup_dir/domotic_YYYYMMDD.dump`` through a temporary, test-read before the rename.

    ``pg_args``/``pg_env``: libpq arguments and environment (``pg_command_env``); ``source`` names the database
    in error messages. Returns the dump's path, size and duration.
    """
    pg_dump = _find_executable(pg_dump_bin, "pg_dump")
    pg_restore = shutil.which("pg_restore", path=str(Path(pg_dump).parent)) or shutil.which("pg_restore")
    backup_dir = Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    final = backup_dir / backup_name(day)
    started = time.monotonic()
    with atomic_path(final) as tmp:
        _run_pg_dump(pg_dump, tmp, pg_args, pg_env, source, timeout_seconds)
        _check_readable(pg_restore, tmp)
    return {"path": str(final), "size_bytes": final.stat().st_size,
            "seconds": round(time.monotonic() - started, 2)}


def _find_executable(name: str, what: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{what} executable {name!r} not found on PATH: install the PostgreSQL client "
                          "(postgresql-client, same major version as the server) or set Variable pg_dump_bin")
    return found


def _run_pg_dump(pg_dump: str, target: Path, pg_args: list[str], pg_env: dict[str, str], source: str,
                 timeout_seconds: float) -> None:
    proc = subprocess.run([pg_dump, "-Fc", "-f", str(target), *pg_args], env=pg_env, capture_output=True,
                          text=True, timeout=timeout_seconds, check=False)
    if proc.returncode != 0:
        raise BackupError(f"pg_dump of {source} failed with exit code {proc.returncode}:\n{_tail(proc.stderr)}")


def _check_readable(pg_restore: str | None, dump: Path) -> None:
    """``pg_restore --list`` reads the dump's table of contents (skipped, with a warning, without pg_restore)."""
    if not pg_restore:
        log.warning("pg_restore not found: the dump was not test-read")
        return
    check = subprocess.run([pg_restore, "--list", str(dump)], capture_output=True, text=True, check=False)
    if check.returncode != 0 or not check.stdout.strip():
        raise BackupError(f"the dump {dump} is unreadable (pg_restore --list exit {check.returncode}):\n"
                          f"{_tail(check.stderr)}")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def prune_backups(backup_dir: Path, today: date, retention_days: int, *, now: float | None = None) -> list[str]:
    """Delete ``domotic_YYYYMMDD.dump`` files dated more than ``retention_days`` before ``today``.

    The date comes from the file name (not the mtime, which a copy changes). The newest dump is always kept,
    whatever its age, and so is anything that does not look like one of our dumps. Stale temporaries of
    crashed dumps (older than a day) are removed too.
    """
    if retention_days < 1:
        raise ConfigurationError("backup_retention_days must be >= 1")
    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return []
    now = time.time() if now is None else now
    cutoff = today - timedelta(days=retention_days)
    dated: list[tuple[date, Path]] = []
    deleted: list[str] = []
    for entry in os.scandir(backup_dir):
        match = BACKUP_NAME_RE.match(entry.name)
        if match:
            with contextlib.suppress(ValueError):
                dated.append((datetime.strptime(match.group(1), "%Y%m%d").date(), Path(entry.path)))
        elif (entry.name.startswith(".domotic_") and TMP_MARK in entry.name
              and now - entry.stat().st_mtime > _STALE_DUMP_SECONDS):
            os.unlink(entry.path)
            deleted.append(entry.path)
    dated.sort()
    for dump_day, path in dated[:-1]:  # never the newest
        if dump_day < cutoff:
            path.unlink()
            deleted.append(str(path))
    if deleted:
        log.info("Backup retention (%d days): deleted %s", retention_days, deleted)
    return deleted
