"""Warehouse backups: ``pg_dump -Fc`` into ``backup_dir/domotic_YYYYMMDD.dump``, test-read, and their retention.

The libpq arguments and environment come from the caller (``domotic.airflow_adapter.pg_command_env``: the
password only ever in ``PGPASSWORD``). A dump replaces an earlier one of the same day only once it is complete
and ``pg_restore --list`` reads it; old dumps are deleted by the date in their name, never the newest one.

A dump holds a database, not the roles of its server: restored on a new server, every grant and every Gold
row-level-security policy naming ``role_tenant`` or ``role_admin`` fails (and the owners' roles are missing).
So each dump gets a companion ``domotic_YYYYMMDD.roles.sql`` (``roles_script``): the roles the warehouse refers to, created when
missing, and their memberships; docs/runbook.md §9 restores both. Both files are private (0600): a dump holds
every tenant's data.
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

from psycopg import sql

from domotic.errors import ConfigurationError, PermanentError, storage_errors
from domotic.maintenance.atomic import TMP_MARK, atomic_path

log = logging.getLogger(__name__)

BACKUP_NAME_RE = re.compile(r"^domotic_(\d{8})\.dump$")
ROLES_NAME_RE = re.compile(r"^domotic_(\d{8})\.roles\.sql$")
BACKUP_FILE_MODE = 0o600
# Before a dump, expired dumps are deleted early when the free space is under the newest dump's size times this.
ROOM_FACTOR = 1.2
# A dump of the warehouse takes hours at most: a temporary older than this belongs to a crashed dump.
_STALE_DUMP_SECONDS = 86400


class BackupError(PermanentError):
    """pg_dump is missing or failed; the message carries its exit code and error output."""


def backup_name(day: date) -> str:
    return f"domotic_{day:%Y%m%d}.dump"


def roles_name(day: date) -> str:
    return f"domotic_{day:%Y%m%d}.roles.sql"


def dump_warehouse(backup_dir: Path, day: date, pg_args: list[str], pg_env: dict[str, str], *,
                   pg_dump_bin: str = "pg_dump", source: str = "the warehouse",
                   timeout_seconds: float = 6 * 3600, roles_sql: str | None = None) -> dict[str, Any]:
    """``pg_dump -Fc`` into ``backup_dir/domotic_YYYYMMDD.dump`` through a temporary, test-read before the rename.

    ``pg_args``/``pg_env``: libpq arguments and environment (``pg_command_env``); ``source`` names the database
    in error messages; ``roles_sql`` (``roles_script``) is written beside it as ``domotic_YYYYMMDD.roles.sql``.
    Returns the paths, the dump's size and the duration. A read-only, full or over-quota backup folder fails
    with ``StorageUnavailableError`` (not retried), naming the folder.
    """
    pg_dump = _find_executable(pg_dump_bin, "pg_dump")
    pg_restore = shutil.which("pg_restore", path=str(Path(pg_dump).parent)) or shutil.which("pg_restore")
    backup_dir = Path(backup_dir)
    final = backup_dir / backup_name(day)
    started = time.monotonic()
    with storage_errors(f"backup folder {backup_dir}"):
        backup_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(final, mode=BACKUP_FILE_MODE) as tmp:
            _create_private(tmp)  # pg_dump keeps the mode of a file it writes into: never world-readable
            _run_pg_dump(pg_dump, tmp, pg_args, pg_env, source, timeout_seconds)
            _check_readable(pg_restore, tmp)
        result: dict[str, Any] = {"path": str(final), "size_bytes": final.stat().st_size}
        if roles_sql is not None:
            roles = backup_dir / roles_name(day)
            with atomic_path(roles, mode=BACKUP_FILE_MODE) as tmp:
                _create_private(tmp)
                tmp.write_text(roles_sql, encoding="utf-8")
            result["roles_path"] = str(roles)
    return {**result, "seconds": round(time.monotonic() - started, 2)}


def _create_private(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, BACKUP_FILE_MODE))


# Every role the current database refers to (owners, grantees, policy roles, default privileges), then the roles
# that are members of those (BI logins in role_jimmy...), transitively. PUBLIC (oid 0) and the built-in pg_*
# roles exist everywhere.
_REFERENCED_ROLES = """
WITH RECURSIVE referenced(oid) AS (
    SELECT nspowner FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    UNION SELECT (aclexplode(nspacl)).grantee FROM pg_namespace
          WHERE nspacl IS NOT NULL AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    UNION SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    UNION SELECT (aclexplode(c.relacl)).grantee FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relacl IS NOT NULL AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    UNION SELECT p.proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    UNION SELECT unnest(polroles) FROM pg_policy
    UNION SELECT defaclrole FROM pg_default_acl
    UNION SELECT (aclexplode(defaclacl)).grantee FROM pg_default_acl
    UNION SELECT datdba FROM pg_database WHERE datname = current_database()
    UNION SELECT (aclexplode(datacl)).grantee FROM pg_database WHERE datname = current_database() AND datacl IS NOT NULL
), members(oid) AS (
    SELECT oid FROM referenced
    UNION SELECT m.member FROM pg_auth_members m JOIN members r ON m.roleid = r.oid
)
SELECT r.rolname, r.rolsuper, r.rolcanlogin, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls
FROM pg_roles r
WHERE r.oid IN (SELECT oid FROM members WHERE oid <> 0) AND r.rolname NOT LIKE 'pg\\_%'
ORDER BY r.rolname
"""
_MEMBERSHIPS = """
SELECT g.rolname, m.rolname FROM pg_auth_members a
JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
WHERE g.rolname = ANY(%s) AND m.rolname = ANY(%s)
ORDER BY 1, 2
"""


def roles_script(conn: Any) -> str:
    """The SQL that creates, on a new server, the roles the connected database refers to (when missing, with
    their attributes; passwords are not readable and not copied) and their memberships. Superusers are only
    named: a new server has its own."""
    with conn.cursor() as cur:
        cur.execute(_REFERENCED_ROLES)
        roles = cur.fetchall()
        names = [row[0] for row in roles]
        cur.execute(_MEMBERSHIPS, (names, names))
        memberships = cur.fetchall()
        database = cur.execute("SELECT current_database()").fetchone()[0]
    conn.rollback()
    lines = [f"-- Roles of database {database!r} for restoring its dump on another server (docs/runbook.md §9).",
             "-- Run as a superuser before pg_restore: creates the missing roles (no passwords: set them for",
             "-- login roles afterwards with ALTER ROLE ... PASSWORD), then the memberships. Idempotent."]
    for name, superuser, *attributes in roles:
        if superuser:
            lines.append(f"-- {name}: a superuser on the source server, not created here")
            continue
        flags = " ".join(flag if on else f"NO{flag}" for flag, on in zip(
            ("LOGIN", "INHERIT", "CREATEROLE", "CREATEDB", "BYPASSRLS"), attributes, strict=True))
        create = sql.SQL("CREATE ROLE {} " + flags).format(sql.Identifier(name)).as_string(conn)
        lines.append(f"DO $roles$ BEGIN {create}; EXCEPTION WHEN duplicate_object THEN NULL; END $roles$;")
    for group, member in memberships:
        lines.append(sql.SQL("GRANT {} TO {};").format(sql.Identifier(group), sql.Identifier(member)).as_string(conn))
    return "\n".join(lines) + "\n"


def make_room(backup_dir: Path, today: date, retention_days: int, *, free_bytes: int | None = None,
              now: float | None = None) -> list[str]:
    """Before a dump: when the backup filesystem has less free space than the newest dump took (x1.2), delete
    the expired dumps now rather than after the dump, which would fail for want of that space and so never
    prune (a full folder would never free itself). The newest dump always stays."""
    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return []
    dumps = sorted(backup_dir.glob("domotic_*.dump"))
    if not dumps:
        return []
    needed = max(path.stat().st_size for path in dumps) * ROOM_FACTOR
    free = shutil.disk_usage(backup_dir).free if free_bytes is None else free_bytes
    if free >= needed:
        return []
    log.warning("Backup folder %s has %d bytes free, the newest dump took %d: deleting expired dumps first",
                backup_dir, free, int(needed / ROOM_FACTOR))
    return prune_backups(backup_dir, today, retention_days, now=now)


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
    dump_days: list[date] = []
    deleted: list[str] = []
    for entry in os.scandir(backup_dir):
        match = BACKUP_NAME_RE.match(entry.name) or ROLES_NAME_RE.match(entry.name)
        if match:
            with contextlib.suppress(ValueError):
                dated.append((datetime.strptime(match.group(1), "%Y%m%d").date(), Path(entry.path)))
                if entry.name.endswith(".dump"):
                    dump_days.append(dated[-1][0])
        elif (entry.name.startswith(".domotic_") and TMP_MARK in entry.name
              and now - entry.stat().st_mtime > _STALE_DUMP_SECONDS):
            os.unlink(entry.path)
            deleted.append(entry.path)
    newest = max(dump_days, default=None)
    for file_day, path in sorted(dated):
        if file_day < cutoff and file_day != newest:  # never the newest dump (nor its roles script)
            path.unlink()
            deleted.append(str(path))
    if deleted:
        log.info("Backup retention (%d days): deleted %s", retention_days, deleted)
    return deleted
