"""Weather forecasts: sFTP -> Bronze -> Silver (``weather_daily``'s task bodies and the pure logic under them).

Three parts, each usable without Airflow's scheduler:

1. **Fetch** (``fetch_new_files``): one SSH session per run (``SFTPHook.get_managed_conn``) lists the remote
   folder and downloads only the files that are new or changed. "Changed" is decided against the manifest
   ``silver.weather_file_manifest`` (name, size, modification time, then the sha256 of the content), never
   against Bronze, so deleting or compacting Bronze never triggers a new download of the archive.
   Files land in ``<bronze_root>/weather/YYYY/MM/DD/`` (date from the name); a re-delivery with new content
   is stored beside the old one (``Pred_YYYY-MM-DD~<sha12>.csv``), never over it.
2. **Clean** (``clean_forecast_file``): pandas over one file at a time (memory bounded by the file), steps and
   per-reason counts as listed in ``STEPS``; a file missing a required column is quarantined.
3. **Load** (``load_pending_files``): binary COPY into a session staging table, then set-based SQL
   (``include/sql/silver/weather/load_*.sql``) in one transaction per file:
   - ``silver.weather_forecasts`` holds every revision: the rows of one issue date are replaced as a whole,
     so a corrected re-delivery leaves exactly its own rows;
   - ``silver.weather_clean`` holds, per (timestamp, site), the most recent forecast: rows of the latest
     ``prediction_date``; per measurement the **lowest prediction code that has a value**. The codes are
     undocumented (legacy-system.md §2). The lowest one is taken (as an earlier version of the original did)
     rather than an average because a wide row should be one real forecast a user can trace back to a row of
     ``weather_forecasts``; averaging runs of unknown meaning smooths precipitation peaks and is left to Gold
     (``n_model_runs``), which reads every revision from ``weather_forecasts``.

Errors: authentication failures, unknown host keys and a missing remote folder raise ``PermanentError``
subclasses (the retry policy fails the task at once); refused, timed-out or reset connections raise
``SftpUnavailableError`` (a ``ConnectionError``), which Airflow retries; the task never sleeps itself.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import os
import queue
import re
import stat
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from domotic.airflow_adapter import setting
from domotic.errors import ConfigurationError, PermanentError, SourceMissingError
from domotic.gold.ledger import record_change
from domotic.paths import SQL_DIR
from domotic.settings import SFTP_CONN_ID

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ definitions

SCHEDULE_TZ = "Europe/Zurich"
FILE_NAME_RE = re.compile(r"^Pred_(\d{4}-\d{2}-\d{2})\.csv$")
REQUIRED_COLUMNS: tuple[str, ...] = ("Time", "Value", "Prediction", "Site", "Measurement", "Unit")
SENTINEL = -99999.0


@dataclass(frozen=True)
class Quantity:
    """A kept measurement code: its wide column in ``weather_clean`` and its inclusive plausible range."""

    column: str
    lower: float
    upper: float


# The 4 codes the pipeline keeps (in this order: ``measurement_id`` in the staging table indexes it).
QUANTITIES: dict[str, Quantity] = {
    "PRED_T_2M_ctrl": Quantity("temperature_c", -50.0, 60.0),
    "PRED_RELHUM_2M_ctrl": Quantity("humidity_pct", 0.0, 100.0),
    "PRED_TOT_PREC_ctrl": Quantity("precipitation_mm", 0.0, 500.0),
    "PRED_GLOB_ctrl": Quantity("radiation_wm2", 0.0, 1500.0),
}
MEASUREMENT_CODES: tuple[str, ...] = tuple(QUANTITIES)
WIDE_COLUMNS: tuple[str, ...] = tuple(q.column for q in QUANTITIES.values())
_MEASUREMENT_RANK = np.argsort(
    np.argsort(np.array(MEASUREMENT_CODES))
)  # code index -> position in text order
_LOWER = np.array([q.lower for q in QUANTITIES.values()])
_UPPER = np.array([q.upper for q in QUANTITIES.values()])

# Cleaning steps in the order they apply. A dropped row is counted once, under the first reason that drops
# it. "nulled" and "flagged" rows are kept.
STEPS: tuple[tuple[str, str], ...] = (
    ("rows_read", "read"),  # data lines in the file
    ("bad_field_count", "dropped"),  # more fields than the header (e.g. an unquoted comma in a site)
    ("unparsable_time", "dropped"),  # Time is not an ISO timestamp
    ("unparsable_value", "dropped"),  # Value is not a finite number
    ("missing_key", "dropped"),  # empty Site, or Prediction not a non-negative integer code
    ("before_min_year", "dropped"),  # Time year < weather_min_year
    ("ignored_measurement", "dropped"),  # one of the codes the pipeline does not keep
    ("duplicate", "dropped"),  # same (timestamp, site, measurement, prediction): the last line wins
    ("sentinel_null", "nulled"),  # Value -99999.0: kept as NULL (missing), not dropped
    ("outlier_flagged", "flagged"),  # outside the quantity's plausible range: kept, is_outlier = true
    ("rows_loaded", "loaded"),
)
DROP_REASONS = tuple(reason for reason, action in STEPS if action == "dropped")

WEATHER_DDL: tuple[str, ...] = (
    "silver/00_schema.sql",
    "silver/gold_ledger.sql",
    "silver/weather/weather_file_manifest.sql",
    "silver/weather/weather_file_stats.sql",
    "silver/weather/weather_forecasts.sql",
    "silver/weather/weather_clean.sql",
)
_LOAD_SQL_DIR = SQL_DIR / "silver" / "weather"


def _load_sql(name: str) -> str:
    return (_LOAD_SQL_DIR / name).read_text()


# --------------------------------------------------------------------------------------------- errors


class SftpAuthenticationError(PermanentError):
    """The sFTP server rejected the connection's credentials."""


class SftpHostKeyError(PermanentError):
    """The server's host key is unknown or does not match the pinned key."""


class RemoteDirectoryMissingError(SourceMissingError):
    """The remote forecast folder does not exist."""


class SftpUnavailableError(ConnectionError):
    """Transient: the server refused, timed out or dropped the connection. Airflow retries the task."""


class QuarantinedFile(Exception):
    """A forecast file that cannot be cleaned as a whole; the message names the file and the reason."""


# --------------------------------------------------------------------------------------------- naming


def prediction_date_from_name(name: str) -> date | None:
    """Issue date from ``Pred_YYYY-MM-DD.csv``; None for any other name (those files are ignored)."""
    match = FILE_NAME_RE.match(name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def run_day(logical_date: datetime | None, run_after: datetime | None = None) -> date:
    """The issue date a run works up to: the Europe/Zurich calendar day of its logical date.

    ``airflow dags test weather_daily 2023-09-01`` (logical date 2023-09-01T00:00Z) and the scheduled run at
    07:30 Zurich on that day both give 2023-09-01. Runs without a logical date use their ``run_after``.
    """
    import pendulum

    moment = logical_date or run_after
    if moment is None:
        raise ConfigurationError("a weather_daily run needs a logical date or a run_after time")
    return pendulum.instance(moment).in_timezone(SCHEDULE_TZ).date()


def bronze_day_dir(bronze_root: Path, issue_date: date) -> Path:
    return bronze_root / "weather" / f"{issue_date:%Y}" / f"{issue_date:%m}" / f"{issue_date:%d}"


# ------------------------------------------------------------------------------------------- cleaning


@dataclass
class CleanedForecast:
    """The kept rows of one file (long format) and the row counts of every cleaning step."""

    source_name: str
    prediction_date: date
    rows: pd.DataFrame  # timestamp (UTC), site, prediction, measurement, value (NaN = NULL), unit, is_outlier
    stats: dict[str, int]
    examples: dict[str, list[int]] = field(default_factory=dict)  # reason -> a few file line numbers

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """Hours covered, half-open ``[first hour, last hour + 1h)`` in UTC; None when no row was kept."""
        if self.rows.empty:
            return None
        return _hour_window(self.rows["timestamp"].min(), self.rows["timestamp"].max())


def _hour_window(first: pd.Timestamp, last: pd.Timestamp) -> tuple[datetime, datetime]:
    start = first.floor("h").to_pydatetime()
    end = last.floor("h").to_pydatetime() + timedelta(hours=1)
    return start, end


def read_header(path: Path, source_name: str) -> list[str]:
    """The header's column names; quarantines a file without one or missing a required column."""
    with _open_text(path) as fh:
        first = fh.readline()
    if not first.strip():
        raise QuarantinedFile(f"{source_name}: empty file, no header line")
    columns = [c.strip().strip('"').strip() for c in next(csv.reader([first]))]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise QuarantinedFile(
            f"{source_name}: required column {', '.join(repr(c) for c in missing)} missing from the header "
            f"(found {', '.join(columns)}; expected {', '.join(REQUIRED_COLUMNS)})"
        )
    return columns


def _open_text(path: Path) -> TextIO:
    """A Bronze file as text, also when compacted to .gz (the header is ASCII in every encoding seen)."""
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return path.open("r", encoding="utf-8-sig", errors="replace", newline="")


def _read_rows(
    path: Path, source_name: str, header: list[str], encoding: str = "utf-8-sig"
) -> tuple[pd.DataFrame, list[int]]:
    """All data lines as categoricals, and the numbers of the lines skipped for having too many fields."""
    # Categoricals: a file has ~50 distinct times, ~100 sites, 7 codes and a few thousand distinct values in
    # 150,000 rows, so each distinct string is parsed and normalised once.
    dtypes = dict.fromkeys(REQUIRED_COLUMNS, "category")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        # No usecols: with it pandas silently accepts lines with too many fields instead of skipping them.
        frame = pd.read_csv(
            path,
            header=0,
            names=_unique_names(header),
            dtype=dtypes,
            keep_default_na=False,
            na_values=[],
            on_bad_lines="warn",
            engine="c",
            encoding=encoding,
            compression="infer",
        )
    bad_lines: list[int] = []
    for warning in caught:
        bad_lines.extend(int(n) for n in re.findall(r"Skipping line (\d+)", str(warning.message)))
    if bad_lines:
        log.debug("%s: parser skipped lines %s", source_name, bad_lines[:10])
    return frame, sorted(bad_lines)


def _unique_names(header: list[str]) -> list[str]:
    """Header names without blanks/quotes; an unexpected repeated name gets a suffix so pandas accepts it."""
    names: list[str] = []
    for raw in header:
        name = raw.strip().strip('"').strip()
        names.append(name if name not in names else f"{name}.{len(names)}")
    return names


def _labels(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels without blanks and the double quotes some sites are wrapped in, and each row's
    index into them (two raw spellings of one name become one label)."""
    cleaned = np.array([str(v).strip().strip('"').strip() for v in column.cat.categories], dtype=str)
    labels, inverse = np.unique(cleaned, return_inverse=True)
    return labels, inverse[column.cat.codes.to_numpy()]


def _per_category(column: pd.Series, convert: Callable[[pd.Index], np.ndarray]) -> np.ndarray:
    """Convert each distinct string once, then spread the results over the rows."""
    return convert(column.cat.categories)[column.cat.codes.to_numpy()]


@dataclass
class _Decoded:
    """The columns of one file as arrays, one entry per parsed line (NaT/NaN/-1 where unparsable)."""

    ts: np.ndarray  # datetime64[ns], UTC
    value: np.ndarray  # float64
    sites: np.ndarray
    site_id: np.ndarray
    prediction: np.ndarray  # -1: not a code
    measurement_id: np.ndarray  # index into MEASUREMENT_CODES, -1: not kept
    units: np.ndarray
    unit_id: np.ndarray


def _decode(frame: pd.DataFrame) -> _Decoded:
    ts = _per_category(
        frame["Time"],
        lambda c: pd.to_datetime(
            pd.Series(c, dtype=object), utc=True, errors="coerce", format="ISO8601"
        ).to_numpy(dtype="datetime64[ns]"),
    )
    value = _per_category(
        frame["Value"],
        lambda c: pd.to_numeric(pd.Series(c, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        ),
    )
    pred_labels, pred_index = _labels(frame["Prediction"])
    codes = np.array([int(p) if p.isdigit() and int(p) < 10_000 else -1 for p in pred_labels], dtype=np.int32)
    meas_labels, meas_index = _labels(frame["Measurement"])
    kept = np.array(
        [MEASUREMENT_CODES.index(m) if m in QUANTITIES else -1 for m in meas_labels], dtype=np.int16
    )
    sites, site_id = _labels(frame["Site"])
    units, unit_id = _labels(frame["Unit"])
    return _Decoded(ts, value, sites, site_id, codes[pred_index], kept[meas_index], units, unit_id)


def _drop_masks(d: _Decoded, min_year: int) -> list[tuple[str, np.ndarray]]:
    """Row masks of the drop reasons, in the order they apply (see ``STEPS``)."""
    bad_time = np.isnat(d.ts)
    empty_site = (d.sites == "")[d.site_id]
    return [
        ("unparsable_time", bad_time),
        ("unparsable_value", ~np.isfinite(d.value)),
        ("missing_key", empty_site | (d.prediction < 0)),
        ("before_min_year", ~bad_time & (d.ts < np.datetime64(f"{min_year:04d}-01-01", "ns"))),
        ("ignored_measurement", d.measurement_id < 0),
    ]


def clean_forecast_file(
    path: Path, prediction_date: date, min_year: int, source_name: str | None = None
) -> CleanedForecast:
    """Clean one forecast file (see ``STEPS``). Raises ``QuarantinedFile`` for a file that cannot be read."""
    name = source_name or path.name
    header = read_header(path, name)
    try:
        try:
            frame, bad_lines = _read_rows(path, name, header)
        except UnicodeDecodeError:
            # Site names such as "Aadorf / Tänikon" in a Windows export: every byte is valid cp1252.
            log.warning("%s: not UTF-8, read as Windows-1252", name)
            frame, bad_lines = _read_rows(path, name, header, encoding="cp1252")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise QuarantinedFile(f"{name}: cannot be parsed as CSV: {exc}") from exc

    stats = dict.fromkeys((reason for reason, _ in STEPS), 0)
    stats["rows_read"] = len(frame) + len(bad_lines)
    stats["bad_field_count"] = len(bad_lines)
    examples: dict[str, list[int]] = {"bad_field_count": bad_lines[:5]} if bad_lines else {}

    d = _decode(frame)
    dropped = np.zeros(len(frame), dtype=bool)
    for reason, mask in _drop_masks(d, min_year):
        first_reason = mask & ~dropped  # a row counts once, under its first reason
        stats[reason] = int(first_reason.sum())
        if stats[reason] and reason != "ignored_measurement":
            examples[reason] = _line_numbers(np.flatnonzero(first_reason)[:5], bad_lines)
        dropped |= mask
    keep = np.flatnonzero(~dropped)

    # Duplicates: a later line repeats or corrects an earlier one, so the last occurrence wins.
    key = pd.DataFrame(
        {"ts": d.ts[keep], "site": d.site_id[keep], "m": d.measurement_id[keep], "p": d.prediction[keep]}
    )
    dup = key.duplicated(keep="last").to_numpy()
    stats["duplicate"] = int(dup.sum())
    if stats["duplicate"]:
        examples["duplicate"] = _line_numbers(keep[dup][:5], bad_lines)
    keep = keep[~dup]

    value = d.value[keep]
    sentinel = value == SENTINEL
    stats["sentinel_null"] = int(sentinel.sum())
    value[sentinel] = np.nan
    measurement = d.measurement_id[keep]
    with np.errstate(invalid="ignore"):
        outlier = ~np.isnan(value) & ((value < _LOWER[measurement]) | (value > _UPPER[measurement]))
    stats["outlier_flagged"] = int(outlier.sum())
    stats["rows_loaded"] = len(keep)

    # Rows in primary-key order (issue date, timestamp, site, measurement, prediction): the index of
    # weather_forecasts then grows at its right edge instead of at random pages. Site labels are sorted.
    order = np.lexsort(
        (d.prediction[keep], _MEASUREMENT_RANK[measurement], d.site_id[keep], d.ts[keep].astype(np.int64))
    )
    rows = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(d.ts[keep][order], tz="UTC"),
            "site": pd.Categorical.from_codes(d.site_id[keep][order], categories=list(d.sites)),
            "prediction": d.prediction[keep][order].astype(np.int16),
            "measurement": pd.Categorical.from_codes(measurement[order], categories=list(MEASUREMENT_CODES)),
            "value": value[order],
            "unit": pd.Categorical.from_codes(d.unit_id[keep][order], categories=list(d.units)),
            "is_outlier": outlier[order],
        }
    )
    return CleanedForecast(name, prediction_date, rows, stats, examples)


def _line_numbers(row_positions: Iterable[int], bad_lines: Sequence[int]) -> list[int]:
    """1-based file line numbers of parsed data rows (header = line 1; skipped lines accounted for)."""
    out = []
    for pos in row_positions:
        line = int(pos) + 2
        for bad in bad_lines:
            if bad <= line:
                line += 1
        out.append(line)
    return out


def describe_stats(cleaned: CleanedForecast) -> str:
    """One log line: rows read, then every step's count (with example line numbers for drops)."""
    parts = []
    for reason, action in STEPS:
        count = cleaned.stats.get(reason, 0)
        text = f"{reason}={count}"
        if action == "dropped" and cleaned.examples.get(reason):
            text += f" (lines {', '.join(map(str, cleaned.examples[reason]))})"
        parts.append(text)
    return f"{cleaned.source_name}: " + ", ".join(parts)


def latest_forecast_wide(long_rows: pd.DataFrame) -> pd.DataFrame:
    """The ``weather_clean`` rows for the (timestamp, site) keys of ``long_rows``.

    Input columns: timestamp, site, prediction_date, prediction, measurement (code), value, is_outlier.
    Per key, only the latest prediction_date counts; per measurement the lowest prediction code with a
    value wins (NULL only when every code of that issue date was missing). Vectorised: one sort, no groupby.
    """
    out_cols = ["timestamp", "site", *WIDE_COLUMNS, "is_outlier", "prediction_date"]
    codes, labels = pd.factorize(long_rows["measurement"].astype(str))
    measurement = np.array(
        [MEASUREMENT_CODES.index(m) if m in QUANTITIES else -1 for m in labels], dtype=np.int64
    )[codes]
    rows = long_rows.loc[measurement >= 0]
    measurement = measurement[measurement >= 0]
    if rows.empty:
        return pd.DataFrame(columns=out_cols)
    ts = rows["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    site_codes, site_labels = pd.factorize(rows["site"].astype(str), sort=False)
    issue = pd.to_datetime(rows["prediction_date"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    value = rows["value"].to_numpy(dtype=np.float64)
    prediction = rows["prediction"].to_numpy(dtype=np.int64)

    # Sort by key, newest issue first, then measurement, rows with a value first, lowest code first.
    order = np.lexsort((prediction, np.isnan(value), measurement, -issue, site_codes, ts))
    ts, site_codes, issue = ts[order], site_codes[order], issue[order]
    measurement, value, prediction = measurement[order], value[order], prediction[order]
    outlier = rows["is_outlier"].to_numpy(dtype=bool)[order]

    new_key = np.ones(len(order), dtype=bool)
    new_key[1:] = (ts[1:] != ts[:-1]) | (site_codes[1:] != site_codes[:-1])
    key_id = np.cumsum(new_key) - 1
    latest = issue[new_key][key_id] == issue  # rows of the newest issue of their key
    first_of_measurement = new_key.copy()
    first_of_measurement[1:] |= measurement[1:] != measurement[:-1]
    first_of_measurement[1:] |= issue[1:] != issue[:-1]
    chosen = latest & first_of_measurement

    n_keys = int(key_id[-1]) + 1
    wide = np.full((n_keys, len(MEASUREMENT_CODES)), np.nan)
    wide[key_id[chosen], measurement[chosen]] = value[chosen]
    is_outlier = np.zeros(n_keys, dtype=bool)
    np.logical_or.at(is_outlier, key_id[chosen], outlier[chosen])
    frame = pd.DataFrame(wide, columns=list(WIDE_COLUMNS))
    frame.insert(0, "timestamp", pd.DatetimeIndex(ts[new_key].astype("datetime64[ns]"), tz="UTC"))
    frame.insert(1, "site", np.asarray(site_labels, dtype=object)[site_codes[new_key]])
    frame["is_outlier"] = is_outlier
    frame["prediction_date"] = issue[new_key].astype("datetime64[D]").astype(object)
    return frame[out_cols]


# --------------------------------------------------------------------------------------------- loading


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


_WIDE_STAGE_COLUMNS = ("timestamp", "site", *WIDE_COLUMNS, "is_outlier", "prediction_date")
_COPY_WIDE = f"COPY weather_clean_stage ({', '.join(_WIDE_STAGE_COLUMNS)}) FROM STDIN (FORMAT CSV)"


@dataclass
class StagedFile:
    """A cleaned file with its COPY payloads built, so that loading is only database work."""

    cleaned: CleanedForecast
    stage_copy: bytes  # long rows, binary COPY
    clean_copy: bytes  # wide rows, CSV COPY
    sites: list[str]
    units: list[str]


def stage_file(cleaned: CleanedForecast) -> StagedFile:
    rows = cleaned.rows
    wide = latest_forecast_wide(rows.assign(prediction_date=cleaned.prediction_date))
    return StagedFile(
        cleaned,
        encode_stage_copy(rows),
        wide_csv(wide),
        sites=[str(s) for s in rows["site"].cat.categories],
        units=[str(u) for u in rows["unit"].cat.categories],
    )


@dataclass
class FileOutcome:
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
        cur.execute(_load_sql("load_stage_tables.sql"))
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
        cur.execute(_load_sql("load_forecasts_delete.sql"), params)
        replaced = cur.rowcount
        with cur.copy("COPY weather_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(staged.stage_copy)
        cur.execute(
            _load_sql("load_forecasts_insert.sql"),
            {**params, "sites": staged.sites, "measurements": list(MEASUREMENT_CODES), "units": staged.units},
        )
        with cur.copy(_COPY_WIDE) as copy:
            copy.write(staged.clean_copy)
        cur.execute(_load_sql("load_clean_upsert.sql"))
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
    cur.execute(_load_sql("load_clean_orphans.sql"), {"prediction_date": prediction_date})
    orphans = cur.fetchall()
    if not orphans:
        return
    log.info(
        "weather_clean: %d (timestamp, site) keys of %s no longer in the re-delivery; recomputing",
        len(orphans),
        prediction_date,
    )
    cur.execute(
        _load_sql("load_revisions_for_keys.sql"),
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
    cur.execute(_load_sql("load_clean_upsert.sql"))


def record_outcome(conn: Any, outcome: FileOutcome, stats: dict[str, int] | None) -> None:
    """Manifest status and per-reason counts of a file, in the open transaction."""
    with conn.cursor() as cur:
        cur.execute(
            _load_sql("manifest_mark_processed.sql"),
            {
                "source_name": outcome.source_name,
                "checksum": outcome.checksum,
                "status": outcome.status,
                "reason": outcome.reason,
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


@dataclass(frozen=True)
class LoadItem:
    """A Bronze file to clean and load."""

    source_name: str
    checksum: str
    path: Path
    prediction_date: date


def _clean_item(item: LoadItem, min_year: int) -> StagedFile | QuarantinedFile:
    path = _existing_bronze_copy(item.path)
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


def _existing_bronze_copy(path: Path) -> Path | None:
    """The Bronze file, or its gzip-compacted form."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            return candidate
    return None


def _store_one(conn: Any, item: LoadItem, result: StagedFile | QuarantinedFile) -> FileOutcome:
    try:
        if isinstance(result, QuarantinedFile):
            log.error("QUARANTINED %s", result)
            outcome = FileOutcome(item.source_name, item.checksum, "quarantined", reason=str(result))
            record_outcome(conn, outcome, None)
        else:
            log.info("%s", describe_stats(result.cleaned))
            outcome = load_cleaned(conn, result, item.checksum)
            record_outcome(conn, outcome, result.cleaned.stats)
        conn.commit()
        return outcome
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


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)
    rows_loaded: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None

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


def load_pending_files(
    day: date, *, connect: Callable[[], Any] | None = None, min_year: int | None = None
) -> LoadReport:
    """Load every downloaded, not yet loaded current file with an issue date up to ``day``."""
    from domotic.airflow_adapter import warehouse_connection

    connect = connect or warehouse_connection
    min_year = int(min_year if min_year is not None else setting("weather_min_year"))
    with contextlib.closing(connect()) as conn:
        with conn.cursor() as cur:
            cur.execute(_load_sql("manifest_pending.sql"), {"day": day})
            pending = cur.fetchall()
        conn.commit()
        items = [LoadItem(name, checksum, Path(path), pdate) for name, checksum, path, pdate in pending]
        previous_windows = _previous_windows(conn, [i.source_name for i in items])
    log.info(
        "%d forecast file(s) to load up to %s: %s", len(items), day, ", ".join(i.source_name for i in items)
    )
    report = LoadReport()
    for outcome in clean_and_load(connect, items, min_year):
        if outcome.status == "quarantined":
            report.quarantined[outcome.source_name] = outcome.reason or ""
            continue
        report.loaded.append(outcome.source_name)
        report.rows_loaded += outcome.rows_loaded
        for window in (outcome.window, previous_windows.get(outcome.source_name)):
            if window:
                report.window_start = min(filter(None, (report.window_start, window[0])))
                report.window_end = max(filter(None, (report.window_end, window[1])))
    if report.quarantined:
        log.error(
            "%d file(s) quarantined: %s", len(report.quarantined), "; ".join(report.quarantined.values())
        )
    return report


def _previous_windows(conn: Any, names: Sequence[str]) -> dict[str, tuple[datetime, datetime]]:
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


# ---------------------------------------------------------------------------------------------- fetch


@dataclass(frozen=True)
class RemoteFile:
    name: str
    path: str
    size: int
    mtime: datetime


@dataclass(frozen=True)
class KnownFile:
    """The current manifest row of a remote name."""

    checksum: str
    size: int
    mtime: datetime
    status: str


@dataclass
class FetchPlan:
    fetch: list[RemoteFile] = field(default_factory=list)
    unchanged: list[RemoteFile] = field(default_factory=list)
    ignored: list[RemoteFile] = field(default_factory=list)
    later: list[RemoteFile] = field(default_factory=list)


def plan_fetch(remote: Iterable[RemoteFile], known: dict[str, KnownFile], day: date) -> FetchPlan:
    """Which remote files to download: new names, and known names whose size or modification time changed.

    Only the manifest is consulted (never Bronze). Files issued after ``day`` are left to their own run;
    names that are not ``Pred_YYYY-MM-DD.csv`` are ignored (recorded once, never downloaded).
    """
    plan = FetchPlan()
    for rf in sorted(remote, key=lambda r: r.name):
        issue = prediction_date_from_name(rf.name)
        current = known.get(rf.name)
        if issue is None:
            if current is None or (current.size, current.mtime) != (rf.size, rf.mtime):
                plan.ignored.append(rf)
        elif issue > day:
            plan.later.append(rf)
        elif current is not None and (current.size, current.mtime) == (rf.size, rf.mtime):
            plan.unchanged.append(rf)
        else:
            plan.fetch.append(rf)
    return plan


def sftp_hook(conn_id: str = SFTP_CONN_ID) -> Any:
    """The provider's hook, with its own connect retries off: retrying is Airflow's job (no sleeps here)."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return SFTPHook(ssh_conn_id=conn_id, conn_retry_attempts=1)
    except AirflowNotFoundException as exc:
        raise ConfigurationError(
            f"Airflow connection '{conn_id}' (the weather sFTP server) is not defined"
        ) from exc


@contextlib.contextmanager
def sftp_errors(hook: Any, conn_id: str) -> Iterator[None]:
    """Translate paramiko's errors into the permanent/transient classes the retry policy decides on."""
    from paramiko.ssh_exception import (
        AuthenticationException,
        BadHostKeyException,
        NoValidConnectionsError,
        SSHException,
    )

    host, port, user = (getattr(hook, attr, "?") for attr in ("remote_host", "port", "username"))
    where = f"sFTP server {host}:{port} (connection '{conn_id}')"
    try:
        yield
    except (PermanentError, SftpUnavailableError):
        raise
    except AuthenticationException as exc:
        raise SftpAuthenticationError(
            f"{where} rejected the login of user '{user}': {str(exc).rstrip('.')}. "
            "Fix the password or key of the connection; retrying cannot help."
        ) from exc
    except BadHostKeyException as exc:
        raise SftpHostKeyError(
            f"{where} presented a host key that does not match the pinned one: {exc}"
        ) from exc
    except SSHException as exc:
        if "known_hosts" in str(exc):
            raise SftpHostKeyError(
                f"{where}: host key unknown ({exc}). Pin the server's key in the connection extra 'host_key' "
                "(see docs/weather.md)."
            ) from exc
        raise SftpUnavailableError(f"{where}: SSH failure, will retry: {exc}") from exc
    except (NoValidConnectionsError, TimeoutError, ConnectionError, EOFError) as exc:
        raise SftpUnavailableError(
            f"{where} unreachable (refused, timed out or reset), will retry: {exc}"
        ) from exc


def list_remote(hook: Any, remote_dir: str) -> list[RemoteFile]:
    """Regular files of the remote folder with size and modification time (one SFTP request)."""
    try:
        entries = hook.list_directory_with_attr(remote_dir)
    except FileNotFoundError as exc:
        raise RemoteDirectoryMissingError(
            f"remote folder {remote_dir!r} does not exist on the sFTP server (Variable meteo_sftp_path)"
        ) from exc
    except PermissionError as exc:
        raise PermanentError(f"remote folder {remote_dir!r}: permission denied on the sFTP server") from exc
    files = []
    for entry in entries:
        if entry.st_mode is not None and not stat.S_ISREG(entry.st_mode):
            continue
        files.append(
            RemoteFile(
                name=entry.filename,
                path=f"{remote_dir.rstrip('/')}/{entry.filename}",
                size=int(entry.st_size or 0),
                mtime=datetime.fromtimestamp(int(entry.st_mtime or 0), tz=UTC),
            )
        )
    return files


class _HashingWriter:
    """File-like target for ``SFTPHook.retrieve_file``: writes to disk and hashes in one pass."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._fh.write(data)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_in_bronze(tmp: Path, name: str, checksum: str, day_dir: Path) -> Path:
    """Move a downloaded file to its Bronze place without ever replacing an existing file.

    ``Pred_D.csv`` when free (or already holding this content); otherwise ``Pred_D~<sha12>.csv`` beside it.
    """
    stem, suffix = os.path.splitext(name)
    for candidate in (day_dir / name, day_dir / f"{stem}~{checksum[:12]}{suffix}"):
        if candidate.exists():
            if file_sha256(candidate) == checksum:
                tmp.unlink()
                return candidate
            continue
        try:
            os.link(tmp, candidate)  # fails if the name appeared meanwhile: never overwrites
        except FileExistsError:
            continue
        tmp.unlink()
        return candidate
    raise PermanentError(f"{name}: no free Bronze name in {day_dir} for content {checksum[:12]}")


@dataclass
class FetchReport:
    listed: int = 0
    downloaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    touched: list[str] = field(default_factory=list)  # new size/mtime, same content: nothing to reload
    ignored: list[str] = field(default_factory=list)
    later: int = 0
    incomplete: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "downloaded": self.downloaded,
            "unchanged": self.unchanged,
            "touched": self.touched,
            "ignored": self.ignored,
            "later": self.later,
            "incomplete": self.incomplete,
        }


def read_known(conn: Any) -> dict[str, KnownFile]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT source_name, checksum, remote_size, remote_mtime, status "
            "FROM silver.weather_file_manifest WHERE is_current"
        )
        rows = cur.fetchall()
    conn.commit()
    return {name: KnownFile(checksum, size, mtime, status) for name, checksum, size, mtime, status in rows}


def fetch_new_files(
    day: date,
    *,
    conn_id: str = SFTP_CONN_ID,
    remote_dir: str | None = None,
    bronze_root: Path | str | None = None,
    conn: Any = None,
) -> FetchReport:
    """List the remote folder once and download what is new or changed into Bronze (see module doc)."""
    from domotic.airflow_adapter import warehouse_connection

    remote_dir = remote_dir or setting("meteo_sftp_path")
    root = Path(bronze_root or setting("domotic_bronze_root"))
    if conn is None:
        with contextlib.closing(warehouse_connection()) as own:
            return fetch_new_files(day, conn_id=conn_id, remote_dir=remote_dir, bronze_root=root, conn=own)
    known = read_known(conn)
    report = FetchReport()
    hook = sftp_hook(conn_id)
    with sftp_errors(hook, conn_id), hook.get_managed_conn():  # one SSH session for listing and downloads
        remote = list_remote(hook, remote_dir)
        plan = plan_fetch(remote, known, day)
        report.listed, report.unchanged, report.later = len(remote), len(plan.unchanged), len(plan.later)
        log.info(
            "%s on %s: %d files, %d to download, %d unchanged, %d ignored names, %d issued after %s",
            remote_dir,
            hook.remote_host,
            len(remote),
            len(plan.fetch),
            len(plan.unchanged),
            len(plan.ignored),
            len(plan.later),
            day,
        )
        for rf in plan.ignored:
            log.warning("ignoring remote file %s: name is not Pred_YYYY-MM-DD.csv", rf.name)
            _record_ignored(conn, rf)
            report.ignored.append(rf.name)
        for rf in plan.fetch:
            _fetch_one(hook, conn, rf, known.get(rf.name), root, report)
    return report


def _record_ignored(conn: Any, rf: RemoteFile) -> None:
    with conn.cursor() as cur:
        cur.execute(
            _load_sql("manifest_record_ignored.sql"),
            {
                "source_name": rf.name,
                "remote_path": rf.path,
                "remote_size": rf.size,
                "remote_mtime": rf.mtime,
            },
        )
    conn.commit()


def _fetch_one(
    hook: Any, conn: Any, rf: RemoteFile, current: KnownFile | None, bronze_root: Path, report: FetchReport
) -> None:
    issue = prediction_date_from_name(rf.name)
    assert issue is not None  # plan_fetch only fetches well-named files
    day_dir = bronze_day_dir(bronze_root, issue)
    day_dir.mkdir(parents=True, exist_ok=True)
    for stale in day_dir.glob(f".{rf.name}.*.part"):  # left by a worker that died mid-download
        stale.unlink(missing_ok=True)
    tmp = day_dir / f".{rf.name}.{os.getpid()}.part"
    started = time.monotonic()
    try:
        with tmp.open("wb") as fh:
            writer = _HashingWriter(fh)
            hook.retrieve_file(rf.path, writer)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    checksum = writer.sha256.hexdigest()
    if writer.size != rf.size:
        # Still being written on the server: take it next run rather than loading half a file.
        tmp.unlink(missing_ok=True)
        log.warning(
            "%s: listed %d bytes, downloaded %d; still being written? left for the next run",
            rf.name,
            rf.size,
            writer.size,
        )
        report.incomplete.append(rf.name)
        return
    params = {
        "source_name": rf.name,
        "checksum": checksum,
        "remote_path": rf.path,
        "remote_size": rf.size,
        "remote_mtime": rf.mtime,
        "prediction_date": issue,
    }
    with conn.cursor() as cur:
        if current is not None and current.checksum == checksum:
            tmp.unlink()
            cur.execute(_load_sql("manifest_touch.sql"), params)
            conn.commit()
            log.info(
                "%s: new size/mtime but same content (sha256 %s): nothing to reload", rf.name, checksum[:12]
            )
            report.touched.append(rf.name)
            return
        bronze_path = store_in_bronze(tmp, rf.name, checksum, day_dir)
        cur.execute(
            "UPDATE silver.weather_file_manifest SET is_current = false "
            "WHERE source_name = %(source_name)s AND is_current",
            params,
        )
        cur.execute(_load_sql("manifest_record_download.sql"), {**params, "bronze_path": str(bronze_path)})
    conn.commit()
    log.info(
        "downloaded %s (%d bytes, sha256 %s) to %s in %.1fs%s",
        rf.name,
        writer.size,
        checksum[:12],
        bronze_path,
        time.monotonic() - started,
        " (re-delivery with new content)" if current else "",
    )
    report.downloaded.append(rf.name)
