"""Versioned schema migrations of the warehouse.

* Numbered migrations ``include/sql/migrations/NNNN_<what>.sql`` are applied once each, in order, each in its
  own transaction together with its row in ``ops.schema_migrations`` (version, name, sha256, applied_at): a
  migration that fails leaves no trace and the next ones wait. They are append-only: an applied migration
  whose file changed is refused (write a new one instead).
* Seeds ``include/sql/seeds/*.sql`` (versioned reference data, e.g. the apartments pidb lacks: insert what is
  missing, never overwrite what operations changed since) run after the numbered migrations at every migrate.
* Repeatable scripts ``include/sql/migrations/repeatable/*.sql`` (idempotent, e.g. row-level security, which
  must cover tables added later, and the roles the seeds' tenants need) run last, at every migrate.
* Concurrent migrators are serialised by an advisory lock; a second one finds nothing left to do.
* Runs of the pipeline do no DDL: they check ``require_current`` (one indexed read) and fail at once, naming the
  command to run, when the warehouse is behind the code.

Nothing here imports Airflow: the functions take an open psycopg connection.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from domotic.errors import ConfigurationError, PermanentError
from domotic.paths import SQL_DIR

log = logging.getLogger(__name__)

MIGRATIONS_DIR = SQL_DIR / "migrations"
REPEATABLE_DIR = MIGRATIONS_DIR / "repeatable"
SEEDS_DIR = SQL_DIR / "seeds"
_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_LOCK_KEY = 0x646F6D6F_7469636D  # "domoticm": one advisory lock for every migrator
_TABLE = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class SchemaOutdatedError(PermanentError):
    """The warehouse schema is older than the code: migrations must run first (a deploy step, not a retry)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@cache
def available(folder: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """The numbered migrations, in order; versions must run 1, 2, 3... without gaps or duplicates."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise ConfigurationError(f"migration file {path.name!r} is not named NNNN_<what>.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ConfigurationError(f"migration versions must be 1..{len(found)} without gaps or duplicates: "
                                 f"{versions}")
    return tuple(found)


def latest_version() -> int:
    return available()[-1].version


def repeatable_scripts() -> list[Path]:
    """The seeds, then the repeatable scripts, in the order every migrate runs them."""
    return sorted(SEEDS_DIR.glob("*.sql")) + sorted(REPEATABLE_DIR.glob("*.sql"))


def current_version(conn: Any) -> int:
    """The highest applied version (0 on a warehouse that never ran a migration)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return 0
        cur.execute("SELECT coalesce(max(version), 0) FROM ops.schema_migrations")
        return int(cur.fetchone()[0])


def require_current(conn: Any, needed: int | None = None) -> int:
    """Fail (``SchemaOutdatedError``) when the warehouse is behind the code; returns its version."""
    needed = latest_version() if needed is None else needed
    version = current_version(conn)
    if version < needed:
        raise SchemaOutdatedError(
            f"the warehouse schema is at version {version}, this code needs version {needed}: apply the "
            "migrations first (trigger the DAG warehouse_migrate, or run `python -m domotic.warehouse migrate`)")
    return version


def _applied(conn: Any) -> dict[int, tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT version, name, sha256 FROM ops.schema_migrations")
        return {version: (name, sha) for version, name, sha in cur.fetchall()}


def apply(conn: Any) -> dict[str, Any]:
    """Apply every pending migration (each in its own transaction), then the repeatable scripts.

    Returns what was done: ``{"from": v0, "to": v1, "applied": [...], "repeatable": [...]}``. A transaction the
    caller left open on ``conn`` is committed first; ``conn`` is given back in its autocommit mode.
    """
    autocommit = conn.autocommit
    if not autocommit:
        conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(_TABLE)
        applied = _applied(conn)
        before = max(applied, default=0)
        done = []
        for migration in available():
            if migration.version in applied:
                name, sha = applied[migration.version]
                if sha != migration.sha256:
                    raise ConfigurationError(
                        f"migration {migration.path.name} changed after it was applied (as {name!r}): migrations "
                        "are append-only, write a new one instead")
                continue
            log.info("applying migration %s", migration.path.name)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(migration.sql)
                cur.execute("INSERT INTO ops.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.sha256))
            done.append(migration.path.name)
        scripts = []
        for path in repeatable_scripts():
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(path.read_text(encoding="utf-8"))
            scripts.append(path.name)
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.autocommit = autocommit
    return {"from": before, "to": latest_version(), "applied": done, "repeatable": scripts}
