"""Weekly snapshot of the MySQL reference database ("pidb") into Silver, privacy by construction.

What is read is decided by ``ALLOW_LIST`` below, not by what exists upstream: only the listed tables, and in
them only the listed columns, are ever named in a query. The personal-data tables are never queried, and
personal columns (names, e-mail, phone, password, street address, GPS) never leave MySQL. Two columns are read
only to be transformed on the way: ``buildings.houseName`` (it holds the owner handle) becomes the apartment
id, and ``dierrors.errorMessage`` is stored with e-mails, phone numbers, names and handles stripped.

Apartments are data: the handles come from the apartment registry (``silver.apartment_registry``), and a
building whose houseName carries a handle the registry lacks registers a new apartment, in the swap
transaction (``domotic.warehouse.tenants.register_buildings``): its files load from the next sensor run.

A run reads every table in one consistent MySQL snapshot, streams each into ``silver.<table>__next`` (typed
from ``information_schema``, loaded with COPY in bounded batches), and swaps all of them in one Postgres
transaction, together with the rebuild of ``silver.di_errors_clean`` and the rows of
``silver.mysql_snapshot_log``. If any table is missing, unreadable or suddenly empty, nothing is swapped: the
previous snapshot stays, the failure is logged, and the task fails naming the table(s).
See docs/mysql-snapshot.md.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from domotic.errors import PermanentError
from domotic.gold.ledger import record_change
from domotic.paths import SQL_DIR
from domotic.sensors.names import Apartment, ApartmentRegistry, to_utc
from domotic.warehouse.tenants import handle_from_house_name, plan_buildings, register_buildings, registered

log = logging.getLogger(__name__)

SILVER_SCHEMA = "silver"
NEXT_SUFFIX = "__next"
OLD_SUFFIX = "__old"
BATCH_ROWS = 5000
SWAP_LOCK_TIMEOUT = "60s"

# Runs inside the swap transaction, after the tables are swapped.
DI_ERRORS_CLEAN_LOAD = "silver/mysql/di_errors_clean_load.sql"

# ------------------------------------------------------------------------------------ personal data rules

# Tables that hold people (accounts, gamification, notifications): never named in any query.
PERSONAL_TABLES: frozenset[str] = frozenset(
    {"users", "actions", "achievements", "badges", "events", "eventsgeneric", "eventsignore", "categories",
     "userrelationships"}
)

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# International (+41 79 123 45 67, 0041...) or national (079 123 45 67) numbers; never an IP address.
_PHONE_RE = re.compile(r"(?<![\w.])(?:\+\d{2,3}|00\d{2,3}|0)[ ]?\(?\d{2}\)?(?:[ .-]?\d{2,3}){3}(?![\w.])")
# A person's name is recognised by the word that introduces it, then up to three capitalised words.
_NAME_CUE_RE = re.compile(
    r"\b(?P<cue>user|owner|tenant|resident|contact|notified|informed|hello|dear|bonjour|"
    r"utilisateur|propriétaire|locataire|mr|mrs|ms|mme|m\.)(?P<gap>:?\s+)"
    r"(?P<words>[^\W\d_][\w'’-]*(?:\s+[^\W\d_][\w'’-]*){0,2})",
    re.IGNORECASE,
)


def _redact_names(match: re.Match[str]) -> str:
    words = match.group("words").split()
    named = 0
    while named < len(words) and words[named][0].isupper():
        named += 1
    if named == 0:
        return match.group(0)
    rest = " ".join(words[named:])
    return f"{match.group('cue')}{match.group('gap')}[name]" + (f" {rest}" if rest else "")


@functools.lru_cache(maxsize=8)
def _handle_pattern(handles: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive alternation of the registry's handles, longest first."""
    if not handles:
        return None
    return re.compile("|".join(re.escape(h) for h in sorted(handles, key=len, reverse=True)), re.IGNORECASE)


def strip_personal_data(message: str | None, registry: ApartmentRegistry) -> str | None:
    """The message with e-mail addresses, phone numbers, owner handles (replaced by their apartment id) and
    introduced names removed."""
    if message is None:
        return None
    text = _EMAIL_RE.sub("[email]", message)
    text = _PHONE_RE.sub("[phone]", text)
    pattern = _handle_pattern(tuple(registry.handles))
    if pattern is not None:
        text = pattern.sub(lambda m: registry.get(m.group(0)).apartment_id, text)  # type: ignore[union-attr]
    return _NAME_CUE_RE.sub(_redact_names, text)


def apartment_from_house_name(house_name: str | None, registry: ApartmentRegistry) -> str | None:
    """The apartment id of a houseName carrying a registered owner handle (its last word, or anywhere in it, as
    the original matched it); None when it names no registered apartment."""
    if not house_name:
        return None
    handle = handle_from_house_name(house_name)
    found = registry.get(handle) if handle else None
    if found is not None:
        return found.apartment_id
    lowered = house_name.lower()
    return next((a.apartment_id for a in registry if a.handle.lower() in lowered), None)


# ----------------------------------------------------------------------------------------- the allow-list


@dataclass(frozen=True)
class Derived:
    """A column read only to store a transformed value (never the raw one)."""

    source: str  # MySQL column read
    target: str  # Silver column written
    pg_type: str
    transform: Callable[[Any, ApartmentRegistry], Any]  # (value, the apartment registry) -> stored value


@dataclass(frozen=True)
class TableSpec:
    source: str  # pidb table
    target: str  # Silver table
    columns: tuple[str | Derived, ...]  # what is read, in Silver column order
    excluded: dict[str, str] = field(default_factory=dict)  # known upstream columns kept out, and why

    @property
    def source_columns(self) -> tuple[str, ...]:
        return tuple(c.source if isinstance(c, Derived) else c for c in self.columns)


_PERSONAL = "personal data (GDPR): never leaves MySQL"

ALLOW_LIST: tuple[TableSpec, ...] = (
    TableSpec(
        "buildings",
        "dim_buildings",
        (
            "idBuilding",
            Derived("houseName", "apartment", "text", apartment_from_house_name),
            "idBuildingType",
            "buildingYear",
            "nbPeople",
            "heatingElectric",
            "surface",
            "createdAt",
        ),
        excluded={
            "firstName": _PERSONAL, "lastName": _PERSONAL, "email": _PERSONAL, "phone": _PERSONAL,
            "address": _PERSONAL, "npa": _PERSONAL + " (part of the postal address)",
            "city": _PERSONAL + " (part of the postal address)", "lat": _PERSONAL + " (GPS)",
            "lng": _PERSONAL + " (GPS)", "idUser": "points at the personal table users",
        },
    ),
    TableSpec("buildingtype", "dim_building_types", ("idBuildingType", "name")),
    TableSpec("rooms", "dim_rooms",
              ("idRoom", "idBuilding", "name", "floor", "orientation", "surface", "nbSensors", "hasWindow")),
    TableSpec("sensors", "dim_sensors",
              ("idSensor", "idRoom", "name", "type", "model", "ipAddress", "batteryPowered", "active",
               "installedAt")),
    TableSpec("devices", "dim_devices",
              ("idDevice", "idRoom", "idProfileReference", "name", "type", "brand", "ratedPowerW", "energyClass",
               "purchaseYear")),
    TableSpec("profilereference", "ref_energy_profiles", ("idProfileReference", "deviceType", "kwhPerYear", "source")),
    TableSpec("profile", "ref_power_snapshots", ("idProfile", "idDevice", "snapshotDate", "power", "isOn")),
    TableSpec("parameters", "ref_parameters", ("idParameter", "idBuilding", "idParameterType", "value", "updatedAt")),
    TableSpec("parameterstype", "ref_parameters_type", ("idParameterType", "name", "unit", "description")),
    TableSpec(
        "dierrors",
        "log_sensor_errors",
        (
            "idError",
            "idBuilding",
            Derived("errorMessage", "errorMessage", "text", strip_personal_data),
            "creationDate",
        ),
        excluded={"file": "path of the collector's log file: lineage of the lab's logger, may name a user"},
    ),
)

_SAFE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def mysql_ident(name: str) -> str:
    """Backtick-quote an allow-listed MySQL identifier (anything else is refused)."""
    if not _SAFE_NAME_RE.match(name):
        raise ValueError(f"refusing to quote MySQL identifier {name!r}")
    return f"`{name}`"


def check_allow_list(specs: Sequence[TableSpec] = ALLOW_LIST) -> None:
    """Refuse an allow-list that names a personal table or a personal column."""
    for spec in specs:
        if spec.source in PERSONAL_TABLES:
            raise PermanentError(f"allow-list names the personal table {spec.source!r}")
        leaked = {c for c in spec.columns if isinstance(c, str)} & set(spec.excluded)
        if leaked:
            raise PermanentError(f"allow-list of {spec.source!r} names excluded columns {sorted(leaked)}")


# ------------------------------------------------------------------------------------------------ typing


@dataclass(frozen=True)
class SourceColumn:
    """One column as ``information_schema.COLUMNS`` describes it."""

    name: str
    data_type: str  # DATA_TYPE, lower case: int, varchar, datetime, ...
    column_type: str  # COLUMN_TYPE: int(10) unsigned, tinyint(1), enum('N','S'), ...
    char_length: int | None = None
    precision: int | None = None
    scale: int | None = None

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type.lower()


_INTEGERS = {
    # data type: (signed, unsigned)
    "tinyint": ("smallint", "smallint"),
    "smallint": ("smallint", "integer"),
    "mediumint": ("integer", "integer"),
    "int": ("integer", "bigint"),
    "integer": ("integer", "bigint"),
    "bigint": ("bigint", "numeric(20,0)"),
}
_SIMPLE = {
    "float": "real",
    "double": "double precision",
    "real": "double precision",
    "date": "date",
    "datetime": "timestamptz",
    "timestamp": "timestamptz",
    "time": "interval",  # MySQL TIME is a duration (-838:59:59 .. 838:59:59), not a time of day
    "year": "smallint",
    "tinytext": "text",
    "text": "text",
    "mediumtext": "text",
    "longtext": "text",
    "enum": "text",
    "set": "text",
    "json": "jsonb",
    "binary": "bytea",
    "varbinary": "bytea",
    "tinyblob": "bytea",
    "blob": "bytea",
    "mediumblob": "bytea",
    "longblob": "bytea",
}


def pg_type(column: SourceColumn) -> str:
    """The Postgres type for a MySQL column (booleans are MySQL's ``tinyint(1)`` and ``bit(1)``)."""
    kind = column.data_type.lower()
    if kind == "tinyint" and column.column_type.lower().startswith("tinyint(1)"):
        return "boolean"
    if kind in _INTEGERS:
        signed, unsigned = _INTEGERS[kind]
        return unsigned if column.unsigned else signed
    if kind in ("decimal", "numeric"):
        return f"numeric({int(column.precision or 10)},{int(column.scale or 0)})"
    if kind in ("char", "varchar"):
        return f"varchar({int(column.char_length)})" if column.char_length else "text"
    if kind == "bit":
        return "boolean" if (column.precision or 1) == 1 else "bigint"
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    raise PermanentError(f"no Postgres type for MySQL column {column.name!r} of type {column.column_type!r}")


def value_converter(column: SourceColumn, target_type: str, source_tz: str) -> Callable[[Any], Any] | None:
    """How a value read from MySQL becomes the value COPY writes (None: unchanged)."""
    kind = column.data_type.lower()
    if target_type == "boolean":
        if kind == "bit":
            return lambda v: None if v is None else int.from_bytes(v, "big") != 0
        return lambda v: None if v is None else bool(v)
    if kind == "bit":
        return lambda v: None if v is None else int.from_bytes(v, "big")
    if kind == "timestamp":  # read with the session time zone set to UTC
        return lambda v: None if v is None else v.replace(tzinfo=UTC)
    if kind == "datetime":  # naive: in the source clock (domotic_source_tz)
        return lambda v: None if v is None else to_utc(v, source_tz)
    return None


# -------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class SilverColumn:
    name: str
    pg_type: str
    convert: Callable[[Any], Any] | None


@dataclass(frozen=True)
class TablePlan:
    """What to read from one pidb table and how to write it to Silver."""

    spec: TableSpec
    select_columns: tuple[str, ...]
    columns: tuple[SilverColumn, ...]
    primary_key: tuple[str, ...]
    unexpected: tuple[str, ...]  # upstream columns neither allowed nor known-excluded: skipped, logged

    @property
    def select_statement(self) -> str:
        cols = ", ".join(mysql_ident(c) for c in self.select_columns)
        return f"SELECT {cols} FROM {mysql_ident(self.spec.source)}"  # allow-listed identifiers only

    def convert_row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v if c.convert is None else c.convert(v) for c, v in zip(self.columns, row, strict=True))


class TableFailure(Exception):
    """One table cannot be snapshotted this run; the message names it and says why."""


def plan_table(spec: TableSpec, upstream: Sequence[SourceColumn], upstream_pk: Sequence[str],
               source_tz: str, registry: ApartmentRegistry | None = None) -> TablePlan:
    """Match the allow-list against what MySQL describes; refuse when an allowed column is gone."""
    by_name = {c.name: c for c in upstream}
    if not by_name:
        raise TableFailure("missing upstream, or not visible to the connection's MySQL user")
    missing = [name for name in spec.source_columns if name not in by_name]
    if missing:
        raise TableFailure(f"allow-listed column(s) {', '.join(missing)} missing upstream or not readable")
    columns: list[SilverColumn] = []
    for entry in spec.columns:
        if isinstance(entry, Derived):
            columns.append(SilverColumn(entry.target, entry.pg_type,
                                        functools.partial(entry.transform, registry=registry or ApartmentRegistry())))
        else:
            source = by_name[entry]
            target_type = pg_type(source)
            columns.append(SilverColumn(entry, target_type, value_converter(source, target_type, source_tz)))
    plain = {c for c in spec.columns if isinstance(c, str)}
    primary_key = tuple(upstream_pk) if upstream_pk and set(upstream_pk) <= plain else ()
    if upstream_pk and not primary_key:
        log.warning("pidb.%s: primary key %s is not on the allow-list; silver.%s gets none",
                    spec.source, list(upstream_pk), spec.target)
    allowed = set(spec.source_columns) | set(spec.excluded)
    unexpected = tuple(c.name for c in upstream if c.name not in allowed)
    return TablePlan(spec, spec.source_columns, tuple(columns), primary_key, unexpected)


# ------------------------------------------------------------------------------------------ MySQL side

_COLUMNS_SQL = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION
"""
_PRIMARY_KEY_SQL = """
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY'
ORDER BY SEQ_IN_INDEX
"""
# Client error codes for a lost/refused connection: let those propagate so Airflow retries the task.
_MYSQL_CONNECTION_ERRORS = {2002, 2003, 2006, 2013, 2055}


def describe_table(mysql_conn: Any, table: str) -> tuple[list[SourceColumn], list[str]]:
    """Columns (as the connection's user may see them) and primary key of a pidb table."""
    cur = mysql_conn.cursor()
    try:
        cur.execute(_COLUMNS_SQL, (table,))
        columns = [
            SourceColumn(str(name), str(kind).lower(), str(ctype), length, precision, scale)
            for name, kind, ctype, length, precision, scale in cur.fetchall()
        ]
        cur.execute(_PRIMARY_KEY_SQL, (table,))
        primary_key = [str(name) for (name,) in cur.fetchall()]
    finally:
        cur.close()
    return columns, primary_key


def _streaming_cursor(mysql_conn: Any) -> Any:
    """An unbuffered cursor, so a table never has to fit in memory (mysqlclient needs SSCursor)."""
    if type(mysql_conn).__module__.startswith("MySQLdb"):
        from MySQLdb.cursors import SSCursor

        return mysql_conn.cursor(SSCursor)
    return mysql_conn.cursor()  # mysql-connector-python cursors are unbuffered by default


def stream_rows(mysql_conn: Any, plan: TablePlan, batch_rows: int) -> Iterator[list[tuple[Any, ...]]]:
    """The table's allow-listed columns, converted for Silver, in batches of at most ``batch_rows``."""
    cur = _streaming_cursor(mysql_conn)
    try:
        cur.execute(plan.select_statement)
        while batch := cur.fetchmany(batch_rows):
            yield [plan.convert_row(row) for row in batch]
    finally:
        cur.close()


def _mysql_error_code(exc: BaseException) -> int | None:
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) else getattr(exc, "errno", None)


# TIMESTAMP columns come back in the session time zone: the connection is opened with it set to UTC.
MYSQL_INIT_COMMAND = "SET time_zone = '+00:00'"


def begin_consistent_read(conn: Any) -> Any:
    """Put a MySQL connection inside one consistent, read-only snapshot of all tables; returns it."""
    cur = conn.cursor()
    try:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    finally:
        cur.close()
    return conn


# --------------------------------------------------------------------------------------- Postgres side


def _table(name: str) -> sql.Identifier:
    return sql.Identifier(SILVER_SCHEMA, name)


def create_next_table(pg_cur: Any, plan: TablePlan) -> None:
    """(Re)create ``silver.<table>__next`` with the planned types and primary key."""
    name = plan.spec.target + NEXT_SUFFIX
    parts = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in plan.columns]
    if plan.primary_key:
        parts.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, plan.primary_key))))
    pg_cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(name)))
    pg_cur.execute(sql.SQL("CREATE TABLE {} ({})").format(_table(name), sql.SQL(", ").join(parts)))


def load_next_table(pg_conn: Any, mysql_conn: Any, plan: TablePlan, batch_rows: int) -> int:
    """Build ``silver.<table>__next`` from MySQL with COPY; return the number of rows."""
    rows = 0
    with pg_conn.transaction(), pg_conn.cursor() as cur:
        create_next_table(cur, plan)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            _table(plan.spec.target + NEXT_SUFFIX), sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns)
        )
        with cur.copy(copy_sql) as copy:
            for batch in stream_rows(mysql_conn, plan, batch_rows):
                for row in batch:
                    copy.write_row(row)
                rows += len(batch)
    return rows


_SHAPE_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       coalesce(array_position(i.indkey::int2[], a.attnum), 0) AS pk_position
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def table_shape(pg_cur: Any, name: str) -> tuple[tuple[str, str, int], ...] | None:
    """Columns, types and primary-key positions of ``silver.<name>``, or None if it does not exist."""
    pg_cur.execute(_SHAPE_SQL, (SILVER_SCHEMA, name))
    shape = tuple((str(a), str(b), int(c)) for a, b, c in pg_cur.fetchall())
    return shape or None


_PKEY_NAME_SQL = """
SELECT con.conname FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND con.contype = 'p'
"""


def _rename_pkey(pg_cur: Any, table: str) -> None:
    """A renamed ``__next`` table keeps its ``..__next_pkey`` name: give it the live name."""
    pg_cur.execute(_PKEY_NAME_SQL, (SILVER_SCHEMA, table))
    found = pg_cur.fetchone()
    if found and found[0] != f"{table}_pkey":
        pg_cur.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            _table(table), sql.Identifier(found[0]), sql.Identifier(f"{table}_pkey")))


def swap_table(pg_cur: Any, target: str) -> str:
    """Put ``silver.<target>__next`` in place of ``silver.<target>``; the caller holds the transaction.

    Same shape: the rows are exchanged (DELETE + INSERT), so readers keep seeing a full table (the old rows
    until commit, the new ones after) and views built on it survive. New shape (upstream changed a type,
    first run): the tables are renamed; readers wait on the lock and then read the new table.
    """
    nxt = target + NEXT_SUFFIX
    live_shape = table_shape(pg_cur, target)
    if live_shape is not None and live_shape == table_shape(pg_cur, nxt):
        pg_cur.execute(sql.SQL("DELETE FROM {}").format(_table(target)))
        pg_cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(_table(target), _table(nxt)))
        pg_cur.execute(sql.SQL("DROP TABLE {}").format(_table(nxt)))
        return "rows exchanged"
    if live_shape is not None:
        pg_cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(_table(target), sql.Identifier(target + OLD_SUFFIX)))
    pg_cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(_table(nxt), sql.Identifier(target)))
    if live_shape is not None:
        pg_cur.execute(sql.SQL("DROP TABLE {}").format(_table(target + OLD_SUFFIX)))  # RESTRICT: never CASCADE
    _rename_pkey(pg_cur, target)
    return "table renamed" if live_shape is not None else "table created"


def drop_next_tables(pg_conn: Any, plans: Sequence[TablePlan | TableSpec]) -> None:
    with pg_conn.transaction(), pg_conn.cursor() as cur:
        for item in plans:
            spec = item.spec if isinstance(item, TablePlan) else item
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(spec.target + NEXT_SUFFIX)))


def _has_rows(pg_cur: Any, target: str) -> bool:
    if table_shape(pg_cur, target) is None:
        return False
    pg_cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(_table(target)))
    return bool(pg_cur.fetchone()[0])


_LOG_SQL = """
INSERT INTO silver.mysql_snapshot_log
    (snapshot_id, taken_at, source_table, silver_table, status, row_count, unexpected_columns, message,
     airflow_run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


# ------------------------------------------------------------------------------------------------- run


@dataclass
class SnapshotReport:
    snapshot_id: uuid.UUID
    taken_at: datetime
    row_counts: dict[str, int] = field(default_factory=dict)  # by Silver table
    unexpected_columns: dict[str, list[str]] = field(default_factory=dict)  # by pidb table
    failures: dict[str, str] = field(default_factory=dict)  # by pidb table
    new_apartments: list[str] = field(default_factory=list)  # registered from pidb buildings by this snapshot

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (XCom, asset event extra)."""
        return {
            "snapshot_id": str(self.snapshot_id),
            "taken_at": self.taken_at.isoformat(),
            "row_counts": dict(self.row_counts),
            "unexpected_columns": {k: list(v) for k, v in self.unexpected_columns.items()},
            "new_apartments": list(self.new_apartments),
        }


class SnapshotFailed(PermanentError):
    """At least one table could not be snapshotted; nothing was swapped. ``failures`` maps table -> reason."""

    def __init__(self, failures: dict[str, str], specs: Sequence[TableSpec]) -> None:
        self.failures = dict(failures)
        targets = {s.source: s.target for s in specs}
        details = "; ".join(
            f"pidb.{table} (-> silver.{targets.get(table, '?')}): {reason}" for table, reason in failures.items()
        )
        super().__init__(f"pidb snapshot failed for {', '.join(failures)}; previous snapshot kept. {details}")


def _write_log(pg_conn: Any, report: SnapshotReport, specs: Sequence[TableSpec], status_ok: str,
               messages: dict[str, str], run_id: str | None) -> None:
    with pg_conn.cursor() as cur:
        for spec in specs:
            failed = spec.source in report.failures
            cur.execute(_LOG_SQL, (
                report.snapshot_id, report.taken_at, spec.source, f"{SILVER_SCHEMA}.{spec.target}",
                "failed" if failed else status_ok, report.row_counts.get(spec.target),
                report.unexpected_columns.get(spec.source, []),
                report.failures.get(spec.source) or messages.get(spec.source), run_id,
            ))


def extract_all(mysql_conn: Any, pg_conn: Any, specs: Sequence[TableSpec], report: SnapshotReport,
                source_tz: str, batch_rows: int, registry: ApartmentRegistry | None = None) -> list[TablePlan]:
    """Build every ``__next`` table; record per-table failures in ``report`` instead of stopping."""
    plans: list[TablePlan] = []
    for spec in specs:
        try:
            columns, primary_key = describe_table(mysql_conn, spec.source)
            plan = plan_table(spec, columns, primary_key, source_tz, registry)
            if plan.unexpected:
                log.warning("pidb.%s: new upstream column(s) not on the allow-list, not imported: %s",
                            spec.source, ", ".join(plan.unexpected))
                report.unexpected_columns[spec.source] = list(plan.unexpected)
            present_excluded = sorted(set(spec.excluded) & {c.name for c in columns})
            if present_excluded:
                log.info("pidb.%s: excluded by design, not read: %s", spec.source, ", ".join(present_excluded))
            rows = load_next_table(pg_conn, mysql_conn, plan, batch_rows)
            if rows == 0:
                with pg_conn.cursor() as cur:
                    if _has_rows(cur, spec.target):
                        raise TableFailure("returned 0 rows but the previous snapshot has rows")
                log.warning("pidb.%s is empty (and so was the previous snapshot)", spec.source)
            report.row_counts[spec.target] = rows
            plans.append(plan)
            log.info("pidb.%s -> silver.%s%s: %d rows", spec.source, spec.target, NEXT_SUFFIX, rows)
        except TableFailure as exc:
            report.failures[spec.source] = str(exc)
        except psycopg.OperationalError:
            raise  # warehouse unreachable: retry the task
        except PermanentError as exc:
            report.failures[spec.source] = str(exc)
        except Exception as exc:
            if _mysql_error_code(exc) in _MYSQL_CONNECTION_ERRORS:
                raise  # MySQL unreachable: retry the task
            report.failures[spec.source] = f"unreadable: {type(exc).__name__}: {exc}"
        if spec.source in report.failures:
            log.error("pidb.%s: %s", spec.source, report.failures[spec.source])
    return plans


class SwapFailure(Exception):
    """The swap of one table was refused by Postgres (the transaction rolled back)."""

    def __init__(self, table: str, reason: str) -> None:
        super().__init__(reason)
        self.table = table


def swap_all(pg_conn: Any, plans: Sequence[TablePlan], report: SnapshotReport, specs: Sequence[TableSpec],
             run_id: str | None, buildings: Sequence[tuple[int, str | None]] = ()) -> None:
    """One transaction: new apartments registered, every table swapped, di_errors_clean rebuilt, the log
    written."""
    how: dict[str, str] = {}
    with pg_conn.transaction(), pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWAP_LOCK_TIMEOUT)))
        report.new_apartments = register_buildings(cur, buildings, report.taken_at.astimezone(UTC).date())
        if report.new_apartments:
            log.info("pidb names new apartment(s), registered: %s", ", ".join(report.new_apartments))
        for plan in plans:
            try:
                how[plan.spec.source] = swap_table(cur, plan.spec.target)
            except psycopg.errors.DependentObjectsStillExist as exc:
                raise SwapFailure(
                    plan.spec.source,
                    f"upstream types changed and objects depend on silver.{plan.spec.target} "
                    f"({exc.diag.message_detail or exc}); drop or recreate them",
                ) from exc
        cur.execute((SQL_DIR / DI_ERRORS_CLEAN_LOAD).read_text())
        # Gold's work list, committed with the swap: dimensions and error counts are refreshed.
        record_change(cur, "reference", None, None, "reference_snapshot")
        _write_log(pg_conn, report, specs, "swapped", how, run_id)


def _fail(pg_conn: Any, report: SnapshotReport, specs: Sequence[TableSpec], run_id: str | None) -> SnapshotFailed:
    """Record the failed run (previous snapshot kept for every table) and build the error naming the tables."""
    with pg_conn.transaction():
        _write_log(pg_conn, report, specs, "kept", {}, run_id)
    return SnapshotFailed(report.failures, specs)


def _drop_next_quietly(pg_conn: Any, specs: Sequence[TableSpec]) -> None:
    if pg_conn.closed:
        return
    try:
        drop_next_tables(pg_conn, specs)
    except psycopg.Error as exc:  # the original error matters more; leftovers are dropped next run
        log.warning("could not drop the %s tables: %s", NEXT_SUFFIX, exc)


def read_buildings(mysql_conn: Any) -> list[tuple[int, str | None]]:
    """``(idBuilding, houseName)`` of pidb's buildings, inside the snapshot's consistent read: the handles the
    houseNames carry (never stored as such: they become apartment ids). Empty when unreadable (the table's own
    extraction then fails, naming it)."""
    cur = mysql_conn.cursor()
    try:
        cur.execute(f"SELECT {mysql_ident('idBuilding')}, {mysql_ident('houseName')} FROM {mysql_ident('buildings')}")
        return [(int(building), None if name is None else str(name)) for building, name in cur.fetchall()]
    except Exception as exc:
        if _mysql_error_code(exc) in _MYSQL_CONNECTION_ERRORS:
            raise
        log.warning("pidb.buildings unreadable for the apartment registry: %s", exc)
        return []
    finally:
        cur.close()


def snapshot_registry(pg_conn: Any, buildings: Sequence[tuple[int, str | None]]) -> ApartmentRegistry:
    """The registry as it will be after this snapshot: the registered apartments plus those pidb's buildings
    add (the transforms map their handles; ``swap_all`` registers them)."""
    with pg_conn.transaction():
        rows = registered(pg_conn)
    new, _ = plan_buildings(rows, buildings)
    return ApartmentRegistry([*(Apartment(r.apartment_id, r.owner_handle, r.source_tz) for r in rows),
                              *(Apartment(apartment, handle) for apartment, handle, _ in new)])


def take_snapshot(pg_conn: Any, mysql_conn: Any, *, source_tz: str = "UTC", batch_rows: int = BATCH_ROWS,
                  run_id: str | None = None, specs: Sequence[TableSpec] = ALLOW_LIST,
                  taken_at: datetime | None = None) -> SnapshotReport:
    """Snapshot every allow-listed pidb table into Silver, all or nothing. Raise SnapshotFailed by table.

    ``pg_conn`` (autocommit is switched on: explicit transaction blocks below) and ``mysql_conn`` (inside
    ``begin_consistent_read``) are the caller's; ``taken_at`` stamps the snapshot log (the machine's clock when
    omitted).
    """
    check_allow_list(specs)
    pg_conn.autocommit = True
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_drop_next_quietly, pg_conn, specs)
        report = SnapshotReport(snapshot_id=uuid.uuid4(), taken_at=taken_at or datetime.now(UTC))
        buildings = read_buildings(mysql_conn) if any(s.source == "buildings" for s in specs) else []
        registry = snapshot_registry(pg_conn, buildings)
        plans = extract_all(mysql_conn, pg_conn, specs, report, source_tz, batch_rows, registry)
        if not report.failures:
            try:
                swap_all(pg_conn, plans, report, specs, run_id, buildings)
            except SwapFailure as exc:
                report.failures[exc.table] = str(exc)
        if report.failures:
            raise _fail(pg_conn, report, specs, run_id)
    log.info("pidb snapshot %s taken at %s swapped in: %s", report.snapshot_id, report.taken_at.isoformat(),
             report.row_counts)
    return report
