"""Clean: one forecast file with pandas (memory bounded by the file), and the latest forecast in wide form.

``clean_forecast_file`` applies the steps listed in ``STEPS`` in order and counts the rows each one drops,
nulls or flags; a file that cannot be read as a whole (empty, not CSV, a required column missing) raises
``QuarantinedFile``. ``latest_forecast_wide`` picks, per (timestamp, site), the rows of the latest issue date
and per measurement the **lowest prediction code that has a value**. The codes are undocumented
(legacy-system.md §2). The lowest one is taken (as an earlier version of the original did) rather than an
average because a wide row should be one real forecast a user can trace back to a row of
``weather_forecasts``; averaging runs of unknown meaning smooths precipitation peaks and is left to Gold
(``n_model_runs``), which reads every revision from ``weather_forecasts``.

Pure: files in, data frames and counts out; no database, no settings.
"""

from __future__ import annotations

import csv
import logging
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ definitions

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


class QuarantinedFile(Exception):
    """A forecast file that cannot be cleaned as a whole; the message names the file and the reason."""


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


# ------------------------------------------------------------------------------------------- reading


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


def first_nul_byte(path: Path) -> int | None:
    """Offset of the first NUL byte of a Bronze file (decompressed when it is a .gz), or None: one read of
    ~10 MB per forecast file, a few milliseconds."""
    import gzip

    offset = 0
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            found = block.find(b"\0")
            if found >= 0:
                return offset + found
            offset += len(block)
    return None


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
    """Each column of the parsed file decoded, every distinct string once (``_per_category``, ``_labels``)."""
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



# ------------------------------------------------------------------------------------------- cleaning


def clean_forecast_file(
    path: Path, prediction_date: date, min_year: int, source_name: str | None = None
) -> CleanedForecast:
    """Clean one forecast file (see ``STEPS``). Raises ``QuarantinedFile`` for a file that cannot be read."""
    name = source_name or path.name
    frame, bad_lines = _parse_file(path, name)
    stats = dict.fromkeys((reason for reason, _ in STEPS), 0)
    stats["rows_read"] = len(frame) + len(bad_lines)
    stats["bad_field_count"] = len(bad_lines)
    examples: dict[str, list[int]] = {"bad_field_count": bad_lines[:5]} if bad_lines else {}
    decoded = _decode(frame)
    keep = _kept_positions(decoded, min_year, bad_lines, stats, examples)
    rows = _long_rows(decoded, keep, stats)
    return CleanedForecast(name, prediction_date, rows, stats, examples)


def _parse_file(path: Path, name: str) -> tuple[pd.DataFrame, list[int]]:
    """The file's data lines (``_read_rows``), read as UTF-8 or else Windows-1252; quarantines what pandas
    cannot parse, and any file holding a NUL byte (no text CSV does; the C parser would cut fields at it)."""
    nul_at = first_nul_byte(path)
    if nul_at is not None:
        raise QuarantinedFile(f"{name}: NUL byte at offset {nul_at}: not a text CSV")
    header = read_header(path, name)
    try:
        try:
            return _read_rows(path, name, header)
        except UnicodeDecodeError:
            # Site names such as "Aadorf / Tänikon" in a Windows export: every byte is valid cp1252.
            log.warning("%s: not UTF-8, read as Windows-1252", name)
            return _read_rows(path, name, header, encoding="cp1252")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise QuarantinedFile(f"{name}: cannot be parsed as CSV: {exc}") from exc


def _kept_positions(
    d: _Decoded, min_year: int, bad_lines: list[int], stats: dict[str, int], examples: dict[str, list[int]]
) -> np.ndarray:
    """Positions of the parsed rows no drop reason applies to; counts (and example lines of) every drop."""
    dropped = np.zeros(len(d.ts), dtype=bool)
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
    return keep[~dup]


def _long_rows(d: _Decoded, keep: np.ndarray, stats: dict[str, int]) -> pd.DataFrame:
    """The kept rows as ``CleanedForecast.rows``: sentinels as NaN, outliers flagged (both counted)."""
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
    return pd.DataFrame(
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



# ------------------------------------------------------------------------------------- wide selection


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


