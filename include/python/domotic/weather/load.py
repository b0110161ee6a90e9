"""Load: cleaned files into Silver, one transaction per file, while the next file is cleaned.

Per file: binary COPY into a session staging table, then set-based SQL
(``include/sql/silver/weather/load_*.sql``):

- ``silver.weather_forecasts`` holds every revision: the rows of one issue date are replaced as a whole, so a
  corrected re-delivery leaves exactly its own rows;
- ``silver.weather_clean`` holds, per (timestamp, site), the most recent forecast
  (``clean.latest_forecast_wide`` picks it); keys a re-delivery no longer has fall back to the newest
  remaining revision;
- the manifest ``silver.weather_file_manifest`` gets the file's status, ``silver.weather_file_stats`` its
  per-step counts, and Gold's work ledger ``silver.gold_ledger`` the hours it changed.

All of it commits together, so a failure rolls the file back and the retry loads it again. Takes open
connections or a ``connect`` callable and plain values (``domotic.weather.tasks`` supplies them).
"""

from __future__ import annotations

import contextlib
import logging
import queue
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from domotic.gold.ledger import record_change
from domotic.safe_text import safe_text
from domotic.weather import read_sql
from domotic.weather.clean import (
    MEASUREMENT_CODES,
    STEPS,
    WIDE_COLUMNS,
    CleanedForecast,
    QuarantinedFile,
    clean_forecast_file,
    describe_stats,
    latest_forecast_wide,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------- COPY payloads

_PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def _stage_dtype(with_value: bool) -> np.dtype:
    """One binary COPY tuple of the staging table, fixed width (a NULL value is a second layout)."""
    fields: list[tuple[str, str]] = [
        ("n", ">i2"),
        ("l_ts", ">i4"),
        ("ts", ">i8"),
        ("l_site", ">i4"),
        ("site", ">i2"),
        ("l_pred", ">i4"),
        ("pred", ">i2"),
        ("l_meas", ">i4"),
        ("meas", ">i2"),
        ("l_unit", ">i4"),
        ("unit", ">i2"),
        ("l_value", ">i4"),
    ]
    if with_value:
        fields.append(("value", ">f8"))
    fields += [("l_out", ">i4"), ("out", "u1")]
    return np.dtype(fields)


def encode_stage_copy(rows: pd.DataFrame) -> bytes:
    """The kept rows in PostgreSQL's binary COPY format, built with numpy (no per-row Python)."""
    ts = (rows["timestamp"].to_numpy(dtype="datetime64[us]") - _PG_EPOCH).astype(np.int64)
    value = rows["value"].to_numpy()
    parts = [_COPY_HEADER]
    for with_value, mask in ((True, ~np.isnan(value)), (False, np.isnan(value))):
        count = int(mask.sum())
        if not count:
            continue
        rec = np.zeros(count, dtype=_stage_dtype(with_value))
        rec["n"] = 7
        rec["l_ts"], rec["ts"] = 8, ts[mask]
        rec["l_site"], rec["site"] = 2, rows["site"].cat.codes.to_numpy()[mask]
        rec["l_pred"], rec["pred"] = 2, rows["prediction"].to_numpy()[mask]
        rec["l_meas"], rec["meas"] = 2, rows["measurement"].cat.codes.to_numpy()[mask]
        rec["l_unit"], rec["unit"] = 2, rows["unit"].cat.codes.to_numpy()[mask]
        if with_value:
            rec["l_value"], rec["value"] = 8, value[mask]
        else:
            rec["l_value"] = -1
        rec["l_out"], rec["out"] = 1, rows["is_outlier"].to_numpy()[mask]
        parts.append(rec.tobytes())
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


_WIDE_STAGE_COLUMNS = ("timestamp", "site", *WIDE_COLUMNS, "is_outlier", "prediction_date")
_COPY_WIDE = f"COPY weather_clean_stage ({', '.join(_WIDE_STAGE_COLUMNS)}) FROM STDIN (FORMAT CSV)"


def wide_csv(wide: pd.DataFrame) -> bytes:
    """A few thousand wide rows per file as CSV for COPY (an empty unquoted field is NULL)."""
    return (
        wide[list(_WIDE_STAGE_COLUMNS)]
        .to_csv(
            index=False,
            header=False,
            date_format="%Y-%m-%d %H:%M:%S+00:00",
            float_format=lambda v: repr(float(v)),
            lineterminator="\n",
        )
        .encode("utf-8")
    )


@dataclass
class StagedFile:
    """A cleaned file with its COPY payloads built, so that loading is only database work."""

    cleaned: CleanedForecast
    stage_copy: bytes  # long rows, binary COPY
    clean_copy: bytes  # wide rows, CSV COPY
    sites: list[str]
    units: list[str]


def stage_file(cleaned: CleanedForecast) -> StagedFile:
    """The COPY payloads of a cleaned file: its long rows and their latest-forecast wide rows."""
    rows = cleaned.rows
    wide = latest_forecast_wide(rows.assign(prediction_date=cleaned.prediction_date))
    return StagedFile(
        cleaned,
        encode_stage_copy(rows),
        wide_csv(wide),
        sites=[str(s) for s in rows["site"].cat.categories],
        units=[str(u) for u in rows["unit"].cat.categories],
    )


# ------------------------------------------------------------------------------ one file, one transaction


@dataclass
class FileOutcome:
    """What became of one file: loaded (with its rows and hours) or quarantined (with the reason)."""

    source_name: str
    checksum: str
    status: str  # loaded | quarantined
    reason: str | None = None
    rows_loaded: int = 0
    window: tuple[datetime, datetime] | None = None


def prepare_session(conn: Any) -> None:
    """Session staging tables (emptied at each commit)."""
    with conn.cursor() as cur:
        # Room for a whole file's staging rows in memory (only settable before the session's first temp table).
        cur.execute("SET temp_buffers TO '64MB'")
        cur.execute(read_sql("load_stage_tables.sql"))
        # Safe here: a file's rows and its manifest status commit together, so a commit lost in a server
        # crash only means the file is still 'downloaded' and the next run loads it again.
        cur.execute("SET synchronous_commit TO off")
    conn.commit()


def load_cleaned(conn: Any, staged: StagedFile | CleanedForecast, checksum: str = "") -> FileOutcome:
    """Replace one issue date in Silver with this file's rows, in the open transaction (not committed)."""
    staged = staged if isinstance(staged, StagedFile) else stage_file(staged)
    cleaned = staged.cleaned
    params = {"prediction_date": cleaned.prediction_date}
    with conn.cursor() as cur:
        # Concurrent runs (backfills) load the same issue date one after the other.
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext('silver.weather_forecasts'), %(d)s)",
            {"d": cleaned.prediction_date.toordinal()},
        )
        cur.execute(read_sql("load_forecasts_delete.sql"), params)
        replaced = cur.rowcount
        with cur.copy("COPY weather_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(staged.stage_copy)
        cur.execute(
            read_sql("load_forecasts_insert.sql"),
            {**params, "sites": staged.sites, "measurements": list(MEASUREMENT_CODES), "units": staged.units},
        )
        with cur.copy(_COPY_WIDE) as copy:
            copy.write(staged.clean_copy)
        cur.execute(read_sql("load_clean_upsert.sql"))
        if replaced:
            _repair_orphaned_clean_rows(cur, cleaned.prediction_date)
        _record_for_gold(cur, cleaned)
    return FileOutcome(
        cleaned.source_name, checksum, "loaded", rows_loaded=len(cleaned.rows), window=cleaned.window
    )


def _record_for_gold(cur: Any, cleaned: CleanedForecast) -> None:
    """Gold's work list, in the load's transaction: the hours this file covers and, for a re-delivery, the
    hours its earlier loaded versions covered (their rows were just replaced)."""
    windows = [cleaned.window] if cleaned.window else []
    cur.execute(
        "SELECT window_start, window_end FROM silver.weather_file_manifest "
        "WHERE source_name = %s AND NOT is_current AND status = 'loaded' AND window_start IS NOT NULL",
        (cleaned.source_name,),
    )
    windows += [(start, end) for start, end in cur.fetchall() if (start, end) not in windows]
    for start, end in windows:
        record_change(cur, "weather", start, end, "weather_load")


def _repair_orphaned_clean_rows(cur: Any, prediction_date: date) -> None:
    """A corrected re-delivery may lack keys its predecessor had: fall back to older revisions for those."""
    cur.execute(read_sql("load_clean_orphans.sql"), {"prediction_date": prediction_date})
    orphans = cur.fetchall()
    if not orphans:
        return
    log.info(
        "weather_clean: %d (timestamp, site) keys of %s no longer in the re-delivery; recomputing",
        len(orphans),
        prediction_date,
    )
    cur.execute(
        read_sql("load_revisions_for_keys.sql"),
        {
            "timestamps": [o[0] for o in orphans],
            "sites": [o[1] for o in orphans],
            "measurements": list(MEASUREMENT_CODES),
        },
    )
    older = pd.DataFrame(
        cur.fetchall(),
        columns=["timestamp", "site", "prediction_date", "prediction", "measurement", "value", "is_outlier"],
    )
    if older.empty:
        return
    older["value"] = older["value"].astype(float)
    cur.execute("DELETE FROM weather_clean_stage")
    with cur.copy(_COPY_WIDE) as copy:
        copy.write(wide_csv(latest_forecast_wide(older)))
    cur.execute(read_sql("load_clean_upsert.sql"))


def record_outcome(conn: Any, outcome: FileOutcome, stats: dict[str, int] | None) -> None:
    """Manifest status and per-reason counts of a file, in the open transaction."""
    with conn.cursor() as cur:
        cur.execute(
            read_sql("manifest_mark_processed.sql"),
            {
                "source_name": outcome.source_name,
                "checksum": outcome.checksum,
                "status": outcome.status,
                # A reason quotes the file (a header with NUL bytes, a site name): escaped and cut to be storable.
                "reason": None if outcome.reason is None else safe_text(outcome.reason),
                "rows_read": (stats or {}).get("rows_read"),
                "rows_loaded": outcome.rows_loaded if outcome.status == "loaded" else None,
                "window_start": outcome.window[0] if outcome.window else None,
                "window_end": outcome.window[1] if outcome.window else None,
            },
        )
        cur.execute(
            "DELETE FROM silver.weather_file_stats WHERE source_name = %s AND checksum = %s",
            (outcome.source_name, outcome.checksum),
        )
        if stats:
            cur.executemany(
                "INSERT INTO silver.weather_file_stats (source_name, checksum, step, reason, action, rows) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (outcome.source_name, outcome.checksum, i, reason, action, stats.get(reason, 0))
                    for i, (reason, action) in enumerate(STEPS)
                ],
            )


# ----------------------------------------------------------------------------------------- many files


@dataclass(frozen=True)
class LoadItem:
    """A Bronze file to clean and load."""

    source_name: str
    checksum: str
    path: Path
    prediction_date: date


def _clean_item(item: LoadItem, min_year: int) -> StagedFile | QuarantinedFile:
    """Clean and stage one file, or why it is quarantined (returned, not raised: its loader records it)."""
    path = existing_bronze_copy(item.path)
    if path is None:
        return QuarantinedFile(
            f"{item.source_name}: Bronze copy {item.path} is missing (deleted before it was "
            "loaded); delete its manifest row to fetch it again"
        )
    try:
        cleaned = clean_forecast_file(path, item.prediction_date, min_year, item.source_name)
    except QuarantinedFile as exc:
        return exc
    return stage_file(cleaned)


def existing_bronze_copy(path: Path) -> Path | None:
    """The Bronze file, or its gzip-compacted form."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            return candidate
    return None


# What the database refuses for a file's content, never for an outage (see domotic.sensors.load): the file is
# quarantined with the database's reason instead of failing every retry of the day.
_REFUSED_CONTENT = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded, UnicodeError)


def _store_one(conn: Any, item: LoadItem, result: StagedFile | QuarantinedFile) -> FileOutcome:
    """Load a staged file (or record a quarantined one) and its manifest row: committed together, or rolled
    back together. A file whose content the database refuses is recorded as quarantined with its reason."""
    try:
        if isinstance(result, QuarantinedFile):
            log.error("QUARANTINED %s", safe_text(result))
            outcome = FileOutcome(item.source_name, item.checksum, "quarantined", reason=str(result))
            record_outcome(conn, outcome, None)
        else:
            log.info("%s", describe_stats(result.cleaned))
            outcome = load_cleaned(conn, result, item.checksum)
            record_outcome(conn, outcome, result.cleaned.stats)
        conn.commit()
        return outcome
    except _REFUSED_CONTENT as exc:
        conn.rollback()
        if isinstance(result, QuarantinedFile):
            raise  # even its quarantine row is refused: a bug, not content
        code = getattr(getattr(exc, "diag", None), "sqlstate", None) or type(exc).__name__
        return _store_one(conn, item, QuarantinedFile(
            f"{item.source_name}: the database refused its content ({code}): {safe_text(exc, 300)}"))
    except BaseException:
        conn.rollback()
        raise


def clean_and_load(
    connect: Callable[[], Any], items: Sequence[LoadItem], min_year: int, loaders: int = 2
) -> list[FileOutcome]:
    """Clean files one after the other while up to ``loaders`` earlier files load, each on its own connection.

    Postgres works in its own processes, so cleaning (pandas, here) and loading (the server) use both cores
    of a small machine. Concurrent loads touch different issue dates in ``weather_forecasts``; in
    ``weather_clean`` they lock keys in the same order and the newer issue wins whichever commits first.
    Memory holds at most ``loaders + 1`` cleaned files. Each file commits on its own: an exception (database
    gone, a bug) stops the run and leaves the committed files loaded, so a retry continues from there.
    """
    loaders = max(1, min(loaders, len(items)))
    # Connections are opened here, in the task's main thread: looking up an Airflow connection from a worker
    # thread would go through the task's supervisor channel concurrently with the main thread.
    idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
    opened: list[Any] = []
    try:
        for _ in range(loaders if items else 0):
            conn = connect()
            opened.append(conn)
            prepare_session(conn)
            idle.put(conn)

        def store(item: LoadItem, result: StagedFile | QuarantinedFile) -> FileOutcome:
            conn = idle.get()
            try:
                return _store_one(conn, item, result)
            finally:
                idle.put(conn)

        outcomes: list[FileOutcome] = []
        with ThreadPoolExecutor(max_workers=loaders, thread_name_prefix="weather-load") as pool:
            in_flight: deque[Future[FileOutcome]] = deque()
            for item in items:
                result = _clean_item(item, min_year)
                while len(in_flight) >= loaders:
                    outcomes.append(in_flight.popleft().result())
                in_flight.append(pool.submit(store, item, result))
            while in_flight:
                outcomes.append(in_flight.popleft().result())
        return outcomes
    finally:
        for conn in opened:
            conn.close()


# ---------------------------------------------------------------------------------------------- a run


@dataclass
class LoadReport:
    """What one run loaded: files, rows and the forecast hours it changed (the load task's XCom summary)."""

    loaded: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)
    rows_loaded: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None

    def add(self, outcome: FileOutcome, replaced_window: tuple[datetime, datetime] | None = None) -> None:
        """Count one file; a loaded file changed its own hours and those of the version it replaced."""
        if outcome.status == "quarantined":
            self.quarantined[outcome.source_name] = safe_text(outcome.reason or "")
            return
        self.loaded.append(outcome.source_name)
        self.rows_loaded += outcome.rows_loaded
        for window in (outcome.window, replaced_window):
            if window:
                self.window_start = min(filter(None, (self.window_start, window[0])))
                self.window_end = max(filter(None, (self.window_end, window[1])))

    def summary(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "quarantined": self.quarantined,
            "rows_loaded": self.rows_loaded,
            **(asset_extra(self) or {}),
        }


def asset_extra(report: LoadReport) -> dict[str, str] | None:
    """The SILVER_WEATHER event extra: the forecast hours the run changed, UTC, half-open."""
    if report.window_start is None or report.window_end is None:
        return None
    return {
        "window_start": report.window_start.astimezone(UTC).isoformat(),
        "window_end": report.window_end.astimezone(UTC).isoformat(),
    }


def load_pending_files(connect: Callable[[], Any], day: date, min_year: int) -> LoadReport:
    """Load every downloaded, not yet loaded current file with an issue date up to ``day``.

    ``connect()`` opens a warehouse connection: one to read the manifest, then one per loader
    (``clean_and_load``). Rows of a year before ``min_year`` are dropped.
    """
    with contextlib.closing(connect()) as conn:
        items = pending_items(conn, day)
        replaced_windows = _replaced_windows(conn, [i.source_name for i in items])
    log.info(
        "%d forecast file(s) to load up to %s: %s", len(items), day, ", ".join(i.source_name for i in items)
    )
    report = LoadReport()
    for outcome in clean_and_load(connect, items, min_year):
        report.add(outcome, replaced_windows.get(outcome.source_name))
    if report.quarantined:
        log.error(
            "%d file(s) quarantined: %s", len(report.quarantined),
            "; ".join(safe_text(reason) for reason in report.quarantined.values()),
        )
    return report


def pending_items(conn: Any, day: date) -> list[LoadItem]:
    """The manifest's current files downloaded but not yet loaded, issued up to ``day``."""
    with conn.cursor() as cur:
        cur.execute(read_sql("manifest_pending.sql"), {"day": day})
        pending = cur.fetchall()
    conn.commit()
    return [LoadItem(name, checksum, Path(path), pdate) for name, checksum, path, pdate in pending]


def _replaced_windows(conn: Any, names: Sequence[str]) -> dict[str, tuple[datetime, datetime]]:
    """Windows of earlier loaded versions: a re-delivery changes the hours its predecessor covered, too."""
    if not names:
        return {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT source_name, min(window_start), max(window_end) FROM silver.weather_file_manifest "
            "WHERE source_name = ANY(%s) AND NOT is_current AND status = 'loaded' GROUP BY source_name",
            (list(names),),
        )
        rows = cur.fetchall()
    conn.commit()
    return {name: (start, end) for name, start, end in rows if start is not None}
