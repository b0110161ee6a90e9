"""Sensor files: share -> Bronze -> Silver, in bounded batches, idempotently.

Both sensor DAGs call these functions; so do the benchmark and the tests.

* ``list_share_day`` lists the share once and keeps the names of one UTC day (plus names that do not parse,
  which are quarantined).
* ``copy_to_bronze`` copies what Bronze lacks (never overwriting: a re-delivery with new content is stored
  beside the first version) and skips content the manifest already holds.
* ``load_bronze_files`` loads files into ``silver.sensor_readings`` and ``silver.file_manifest``: one
  transaction per batch of files, so a kill half-way loses nothing and duplicates nothing (committed batches
  are in the manifest and are skipped on re-run; the rest is reloaded). Readings stream into a COPY while the
  next files are parsed; on the rare key clash (two files claiming the same series and minute) the batch is
  redone through a staging table and a set-based merge in which the later file wins.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import filterfalse
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from domotic.gold.ledger import record_change
from domotic.maintenance.atomic import discard
from domotic.safe_text import escape_name, safe_text, unescape_name
from domotic.sensors.flatten import (
    Reading,
    SeriesCache,
    flatten_payload,
    parse_payload_minute,
    payload_copy_lines,
)
from domotic.sensors.names import (
    UNKNOWN_HANDLE,
    ApartmentRegistry,
    BadFileName,
    FileNaming,
    SensorFileName,
    canonical_name,
    day_prefixes,
    split_sensor_name,
    to_utc,
    versioned_name,
)
from domotic.sensors.outliers import DEFAULT_BOUNDS, Bounds, bounds_for
from domotic.sensors.share import ShareEntryError, read_fd, read_share_file
from domotic.settings import VARIABLES

log = logging.getLogger(__name__)

QUARANTINE_DIR = "_quarantine"
# Files a load names one by one in its log; beyond them it counts by reason (a fleet arriving before its
# registry rows is 1.44 M files a day at 1,000 apartments). The manifest records every one.
QUARANTINE_LOG_FILES = 50
# Bronze files may hold the payload's api_token: readable by their owner and group (the operators), not the
# world (docs/decisions.md, "Bronze keeps the api_token").
BRONZE_FILE_MODE = 0o640

Connect = Callable[[], psycopg.Connection]


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _default(key: str) -> int:
    return int(VARIABLES[key].default)


@dataclass(frozen=True)
class LoadLimits:
    """What one file may cost (the ``sensor_max_*`` settings; docs/sensors.md, "Hostile input")."""

    max_file_bytes: int = _default("sensor_max_file_bytes")
    max_series_per_file: int = _default("sensor_max_series_per_file")
    max_new_series_per_day: int = _default("sensor_max_new_series_per_day")


DEFAULT_LIMITS = LoadLimits()


# ------------------------------------------------------------------------------------------------ share


@dataclass
class ShareListing:
    names: list[str]  # well-formed names of the day, sorted by minute then apartment
    bad_names: list[str]  # names that do not parse, escaped (safe_text.escape_name), quarantined on load
    entries: int = 0  # everything in the folder (0 usually means the share is not mounted)
    hours: list[int] = field(default_factory=list)  # the UTC hour of each name (parsed once, when listing)

    def chunks(self, max_files: int) -> list[list[str]]:
        """The day's names in chunks of whole UTC hours, in time order, each holding at most ``max_files`` files
        unless a single hour holds more (hours without files give nothing); the unparsable names ride with the
        first chunk, to be quarantined. Sized by work, not by the clock: two apartments' day (2,880 files) is
        one chunk, a thousand apartments' day (1.44 M files) an hour per chunk."""
        by_hour: dict[int, list[str]] = {}
        for name, hour in zip(self.names, self.hours, strict=True):
            by_hour.setdefault(hour, []).append(name)
        ordered: list[list[str]] = []
        for hour in sorted(by_hour):
            if ordered and len(ordered[-1]) + len(by_hour[hour]) <= max_files:
                ordered[-1].extend(by_hour[hour])
            else:
                ordered.append(list(by_hour[hour]))
        if self.bad_names:
            if not ordered:
                ordered.append([])
            ordered[0].extend(self.bad_names)
        return ordered


def list_share_day(share: Path, day: date, source_tz: str = "UTC",
                   apartments: ApartmentRegistry | None = None) -> ShareListing:
    """List the share once; keep that UTC day's files and the JSON names that cannot be parsed at all.

    With ``apartments`` (the registry), names of unknown handles are bad names (quarantined with the first
    chunk) and each apartment's own source clock places its names; without it, every well-formed name is
    placed by ``source_tz`` and the load quarantines the unknown handles.

    The share holds every day ever delivered (hundreds of thousands of names), so the per-name work is done
    in C: ``os.listdir``, a prefix test, and one regular-expression pass over all names for the bad ones.
    Names that do not parse are returned escaped (``escape_name``): a name that is not UTF-8 or holds a
    control character travels through XCom and the manifest in a printable, reversible form.
    """
    prefixes = tuple(day_prefixes(day, apartments.zones(source_tz) if apartments else source_tz))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    entries = os.listdir(share)
    naming = None if apartments is None else FileNaming(apartments, source_tz)
    keyed: list[tuple[datetime, str]] = []
    bad: list[str] = []
    for name in [entry for entry in entries if entry.startswith(prefixes)]:
        try:
            minute = _name_minute(name, source_tz, naming)
        except BadFileName:
            bad.append(escape_name(name))
            continue
        if start <= minute < end:
            keyed.append((minute, name))
    # JSON files whose name does not follow the pattern at all belong to no day: every day reports them (they
    # are quarantined once, then known to the manifest), whatever they are (a link or a folder is recorded as
    # such, never followed). A name that is not even printable (not UTF-8, control characters) is reported by
    # the day of its modification time only. Hidden names (writers' temporaries) are ignored.
    for name in filterfalse(_FULL_SENSOR_NAME, entries):
        if not name.endswith(".json") or name.startswith(prefixes) or name.startswith("."):
            continue
        if name.isprintable() or _modified_on(os.path.join(share, name), start, end):
            bad.append(escape_name(name))
    keyed.sort()
    return ShareListing([name for _, name in keyed], sorted(bad), len(entries), [minute.hour for minute, _ in keyed])


def _name_minute(name: str, source_tz: str, naming: FileNaming | None) -> datetime:
    """The UTC minute of a name (BadFileName when it does not parse, or, with a registry, has an unknown handle)."""
    if naming is not None:
        return naming.parse(name).minute_utc
    _, naive = split_sensor_name(name)
    return to_utc(naive, source_tz)


def _modified_on(path: str, start: datetime, end: datetime) -> bool:
    try:
        mtime = os.lstat(path).st_mtime
    except FileNotFoundError:
        return False
    return start.timestamp() <= mtime < end.timestamp()


# SENSOR_NAME_RE without its groups (this runs once per name on the share, hundreds of thousands of times).
_FULL_SENSOR_NAME = re.compile(r"\d{2}\.\d{2}\.\d{4} \d{4}_[^_/]+_received\.json").fullmatch


# ----------------------------------------------------------------------------------------------- bronze


@dataclass
class CopyResult:
    bronze_paths: list[str] = field(default_factory=list)  # to load (new or changed content)
    copied: int = 0
    already_in_bronze: int = 0
    unchanged: int = 0  # content already loaded (or quarantined): nothing to do
    vanished: list[str] = field(default_factory=list)  # listed/predicted, gone when read
    rejected: list[tuple[str, ShareEntryError]] = field(default_factory=list)  # not a file to load: quarantine
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was left for the next run


def known_checksums(conn: psycopg.Connection, names: Sequence[str]) -> set[tuple[str, str]]:
    """(name, checksum) pairs the manifest already holds for these names."""
    if not names:
        return set()
    rows = conn.execute(
        "SELECT source_name, checksum FROM silver.file_manifest WHERE source_name = ANY(%s)", (list(names),)
    ).fetchall()
    return {(name, digest) for name, digest in rows}


def _read_file(path: str) -> tuple[bytes, float]:
    """Content and modification time of a Bronze file with one open (this runs thousands of times a second)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        return read_fd(fd, info.st_size, None), info.st_mtime
    finally:
        os.close(fd)


def parse_or_error(name: str, naming: FileNaming) -> SensorFileName | BadFileName:
    """The parsed name, or the BadFileName saying why not (parsed once per file, used by copy and load)."""
    try:
        return naming.parse(name)
    except BadFileName as exc:
        return exc


class BronzeWriter:
    """Stores share files in Bronze, never overwriting: a re-delivery with new content goes beside the first.

    A file is written as an unnamed file in its folder (``_staged``) and then hard-linked to its real name, so
    Bronze never holds a half-written file under a real name, and the link fails (instead of replacing) if
    that name exists, even when another run stored it a moment ago.
    """

    def __init__(self, bronze_root: Path, naming: FileNaming) -> None:
        self.root, self.naming = str(bronze_root), naming
        self._folders: dict[tuple | None, str] = {}
        self._tmp_suffix = f".{os.getpid()}.tmp"
        # Unnamed files are linked through /proc; cleared if the filesystem has none.
        self._unnamed = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")

    def folder(self, parsed: SensorFileName | BadFileName) -> str:
        """``<root>/<apartment>/YYYY/MM/DD/HH`` from the file-name minute; ``<root>/_quarantine`` for bad names."""
        key = None if isinstance(parsed, BadFileName) else (parsed.apartment, parsed.minute_utc.timetuple()[:4])
        folder = self._folders.get(key)
        if folder is None:
            if key is None:
                folder = os.path.join(self.root, QUARANTINE_DIR)
            else:
                folder = os.path.join(self.root, parsed.apartment, parsed.minute_utc.strftime("%Y/%m/%d/%H"))
            os.makedirs(folder, exist_ok=True)
            self._folders[key] = folder
        return folder

    @contextmanager
    def _staged(self, folder: str, name: str, data: bytes, mtime: float) -> Iterator[tuple[str, int]]:
        """A path to hard-link from (and the open fd of that file), for a file in ``folder`` holding ``data``
        with the share's timestamp.

        Linux: an unnamed ``O_TMPFILE`` file, reached through ``/proc/self/fd``. A killed task leaves nothing
        behind, and each file costs one directory entry instead of three operations (create, link, unlink):
        a quarter of the copy's kernel time. Elsewhere: a dot-named temporary file, removed afterwards
        (maintenance removes those a kill left behind).
        """
        fd, tmp = -1, None
        if self._unnamed:
            try:
                fd = os.open(folder, os.O_WRONLY | os.O_TMPFILE, BRONZE_FILE_MODE)
            except OSError:  # e.g. EOPNOTSUPP: this filesystem has no unnamed files
                self._unnamed = False
        if fd < 0:
            tmp = os.path.join(folder, f".{name}{self._tmp_suffix}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, BRONZE_FILE_MODE)
        try:
            os.write(fd, data)
            os.utime(fd, (mtime, mtime))  # keep the share's timestamp (replay orders versions by it)
            yield tmp or f"/proc/self/fd/{fd}", fd
        finally:
            os.close(fd)
            if tmp is not None:
                discard(Path(tmp))  # never hides the error that got us here

    def store(self, name: str, data: bytes, mtime: float, digest: str, result: CopyResult,
              parsed: SensorFileName | BadFileName | None = None) -> str:
        """Put one file's content in Bronze (or find it there); returns its Bronze path.

        ``name`` is the source name as the manifest records it (escaped when it is not printable).
        """
        folder = self.folder(parse_or_error(name, self.naming) if parsed is None else parsed)
        name = _fit_file_name(name)
        with self._staged(folder, name, data, mtime) as (source, fd):
            for candidate in (os.path.join(folder, name), os.path.join(folder, versioned_name(name, digest))):
                try:
                    # Given a dir fd, os.link calls linkat(AT_SYMLINK_FOLLOW), which links the file a
                    # /proc/self/fd entry points to (plain link() would link the entry itself and fail). The
                    # source path is absolute, so linkat ignores which fd that is.
                    os.link(source, candidate, src_dir_fd=fd)
                except FileExistsError:
                    if _read_file(candidate)[0] == data:
                        result.already_in_bronze += 1
                        return candidate
                    continue  # same name, different content: a re-delivery; keep both
                result.copied += 1
                return candidate
        # pragma: no cover - a sha256 prefix collision between two versions of one file
        raise RuntimeError(f"Bronze holds conflicting versions of {name} in {folder}")


# An escaped name can be four times as long as the 255 bytes a file name may have; the version suffix needs 13.
_MAX_BRONZE_NAME_BYTES = 230


def _fit_file_name(name: str) -> str:
    """``name``, or for a (quarantined, escaped) name too long for the filesystem its start and a digest."""
    if len(name) * 4 <= _MAX_BRONZE_NAME_BYTES or len(name.encode()) <= _MAX_BRONZE_NAME_BYTES:
        return name
    return f"{name[:150]}~{checksum(name.encode())[:16]}"


def copy_to_bronze(
    share: Path,
    names: Iterable[str],
    bronze_root: Path,
    known: set[tuple[str, str]],
    source_tz: str = "UTC",
    limits: LoadLimits = DEFAULT_LIMITS,
    *,
    apartments: ApartmentRegistry,
) -> CopyResult:
    """Copy share files into Bronze unless their content is already known; never modify Bronze in place.

    ``apartments`` (the registry) places each file in its apartment's folder (unknown handles: ``_quarantine``).
    Entries that are not files to load are returned in ``rejected`` (to quarantine) or ``skipped``.
    """
    result = CopyResult()
    writer = BronzeWriter(bronze_root, FileNaming(apartments, source_tz))
    share_dir = str(share)
    for name in names:
        read = _read_share_entry(share_dir, name, limits, result)
        if read is None:
            continue
        data, mtime = read
        digest = checksum(data)
        if (name, digest) in known:
            result.unchanged += 1
            continue
        result.bronze_paths.append(writer.store(name, data, mtime, digest, result))
    return result


def _read_share_entry(share_dir: str, name: str, limits: LoadLimits, result: CopyResult,
                      stats: LoadStats | None = None) -> tuple[bytes, float] | None:
    """The content of share entry ``name`` (escaped), or None with the entry noted in ``result`` (and
    ``stats``): rejected (to quarantine), vanished or skipped."""
    try:
        return read_share_file(os.path.join(share_dir, unescape_name(name)), limits.max_file_bytes)
    except ShareEntryError as exc:
        if not exc.transient:
            result.rejected.append((name, exc))
            return None
        if exc.reason.startswith("vanished"):
            result.vanished.append(name)
        else:
            result.skipped[name] = exc.reason
            log.warning("Share entry %r skipped: %s", name, exc.reason)
        if stats is not None:
            stats.skip(name, exc.reason)
    return None


# ----------------------------------------------------------------------------------------------- silver

# Room names seen are at most ~15 characters ("WashingMachine"); a name is stored once per series and indexed.
MAX_ROOM_CHARS = 64


class BadContent(ValueError):
    """A file whose content cannot be loaded as it is (the message says why); ``capped``: a cap was hit."""

    def __init__(self, reason: str, capped: bool = False) -> None:
        super().__init__(reason)
        self.capped = capped


def room_problem(room: str) -> str | None:
    """Why a JSON room key cannot name a series (None when it can): empty, too long, or not printable
    (NUL, newline, escape sequences: a name must read the same in every BI tool and log)."""
    if not room.strip():
        return "is empty"
    if len(room) > MAX_ROOM_CHARS:
        return f"has {len(room)} characters, more than the {MAX_ROOM_CHARS} allowed"
    if not room.isprintable():
        return "holds control characters"
    return None


class SeriesRegistry:
    """Maps an apartment's (room, sensor_type, field, index) to its series id and outlier bounds.

    Entries hold the ready-made COPY line suffixes (``\t<series_id>\t<f|t>\n``) so the hot loop only
    concatenates strings. New series are inserted on a separate connection and committed at once (harmless
    metadata), because the loading connection is busy streaming a COPY.
    """

    def __init__(self, connect: Connect, bounds: dict[tuple[str, str], Bounds] | None = None) -> None:
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        self._bounds = bounds or DEFAULT_BOUNDS
        # apartment -> (sensor_type, room, index) -> field -> (low, high, suffix in bounds, suffix outlier)
        self.by_apartment: dict[str, SeriesCache] = {}
        self._new_per_day: dict[tuple[str, date], int] = {}  # (apartment, UTC day) -> series it brought

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._conn.autocommit = True
        return self._conn

    def preload(self, conn: psycopg.Connection) -> None:
        """Read the known series on the caller's connection: the registry's own is opened only if a series
        is new (rare after the first day)."""
        rows = conn.execute(
            "SELECT series_id, apartment, room, sensor_type, field, sensor_index FROM silver.sensor_series"
        ).fetchall()
        for series_id, apartment, room, sensor_type, fld, index in rows:
            self._remember(apartment, sensor_type, room, index, fld, series_id)

    def _remember(self, apartment: str, sensor_type: str, room: str, index: int, fld: str,
                  series_id: int) -> tuple[float, float, str, str]:
        low, high = bounds_for(sensor_type, fld, self._bounds) or (float("-inf"), float("inf"))
        entry = (low, high, _SUFFIX(4, series_id, 1, 0), _SUFFIX(4, series_id, 1, 1))
        cache = self.by_apartment.setdefault(apartment, {})
        cache.setdefault((sensor_type, room, index), {})[fld] = entry
        return entry

    def creator(self, apartment: str, day: date | None = None):
        """The ``create`` callback of ``payload_copy_lines`` for one apartment (and the UTC day of the file)."""
        def create(sensor_type: str, room: str, index: int, fld: str, unit: str) -> tuple[float, float, str, str]:
            return self.create(apartment, (room, sensor_type, fld, index), unit, day)
        return create

    def admit(self, apartment: str, day: date, readings: Sequence[Reading], limits: LoadLimits) -> None:
        """Create the series of ``readings`` that are new, once their names and number are checked.

        Raises ``BadContent`` (nothing created) when a file has more readings than ``max_series_per_file``,
        when a new series' room name is not a name (``room_problem``), or when the new series would take the
        apartment past ``max_new_series_per_day`` for that UTC day of data.
        """
        if len(readings) > limits.max_series_per_file:
            raise BadContent(f"{len(readings)} readings in one file, over the cap sensor_max_series_per_file="
                             f"{limits.max_series_per_file}", capped=True)
        cache = self.by_apartment.get(apartment, {})
        new: dict[tuple, str] = {}
        for key, unit, _ in readings:
            room, sensor_type, fld, index = key
            if fld in cache.get((sensor_type, room, index), ()):
                continue
            problem = room_problem(room)
            if problem:
                raise BadContent(f"room name '{safe_text(room, 60)}' {problem}")
            new[key] = unit
        if not new:
            return
        added = self._new_series_count(apartment, day)
        if added + len(new) > limits.max_new_series_per_day:
            raise BadContent(f"{len(new)} new series for {apartment} on {day} after {added} already: over the cap "
                             f"sensor_max_new_series_per_day={limits.max_new_series_per_day}", capped=True)
        for key, unit in new.items():
            self.create(apartment, key, unit, day)
        self._new_per_day[(apartment, day)] = added + len(new)

    def _new_series_count(self, apartment: str, day: date) -> int:
        if (apartment, day) not in self._new_per_day:
            self._new_per_day[(apartment, day)] = self._connection().execute(
                "SELECT count(*) FROM silver.sensor_series WHERE apartment = %s AND first_day = %s",
                (apartment, day)).fetchone()[0]
        return self._new_per_day[(apartment, day)]

    def create(self, apartment: str, key: tuple, unit: str, day: date | None = None) -> tuple[float, float, str, str]:
        """Insert (or find) a series first seen in this load; ``key`` is (room, sensor_type, field, index),
        ``day`` the UTC day of the file that brought it (what the new-series cap counts)."""
        params = (apartment, *key)
        row = self._connection().execute(
            """
            WITH ins AS (
                INSERT INTO silver.sensor_series (apartment, room, sensor_type, field, sensor_index, unit, first_day)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT ON CONSTRAINT sensor_series_natural_key DO NOTHING
                RETURNING series_id)
            SELECT series_id FROM ins
            UNION ALL
            SELECT series_id FROM silver.sensor_series
            WHERE apartment = %s AND room = %s AND sensor_type = %s AND field = %s AND sensor_index = %s
            """,
            (*params, unit, day, *params),
        ).fetchone()
        if row is None:
            # Another loader inserted it after this statement's snapshot was taken (ON CONFLICT saw its
            # commit, the SELECT did not): a new statement sees it.
            row = self._connection().execute(
                "SELECT series_id FROM silver.sensor_series WHERE apartment = %s AND room = %s "
                "AND sensor_type = %s AND field = %s AND sensor_index = %s", params).fetchone()
        if row is None:  # pragma: no cover - the row is committed by now
            raise RuntimeError(f"series {params} neither inserted nor found")
        room, sensor_type, fld, index = key
        return self._remember(apartment, sensor_type, room, index, fld, row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass
class LoadStats:
    files_seen: int = 0
    files_loaded: int = 0
    files_unchanged: int = 0
    files_reloaded: int = 0  # new content for a name loaded before
    files_quarantined: int = 0
    files_skipped: int = 0  # vanished, unreadable or changing while read: left for the next run
    rows: int = 0
    readings_skipped: int = 0
    ts_fallbacks: int = 0
    merge_fallbacks: int = 0  # batches that needed the staging merge (key clash)
    batches_split: int = 0  # batches the database refused, split to find the file it refused
    quarantined: dict[str, str] = field(default_factory=dict)  # name -> reason
    capped: dict[str, str] = field(default_factory=dict)  # quarantined by a cap (alerted): name -> reason
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    window_start: datetime | None = None
    window_end: datetime | None = None  # exclusive

    def widen(self, minute: datetime) -> None:
        if self.window_start is None or minute < self.window_start:
            self.window_start = minute
        end = minute + timedelta(minutes=1)
        if self.window_end is None or end > self.window_end:
            self.window_end = end

    def merge(self, other: LoadStats) -> None:
        for name in ("files_seen", "files_loaded", "files_unchanged", "files_reloaded", "files_quarantined",
                     "files_skipped", "rows", "readings_skipped", "ts_fallbacks", "merge_fallbacks",
                     "batches_split"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantined.update(other.quarantined)
        self.capped.update(other.capped)
        self.skipped.update(other.skipped)
        for bound in (other.window_start, other.window_end - timedelta(minutes=1) if other.window_end else None):
            if bound is not None:
                self.widen(bound)

    def summary(self) -> dict[str, Any]:
        return {
            "files_seen": self.files_seen, "files_loaded": self.files_loaded,
            "files_unchanged": self.files_unchanged, "files_reloaded": self.files_reloaded,
            "files_quarantined": self.files_quarantined, "files_skipped": self.files_skipped,
            "files_capped": len(self.capped), "rows": self.rows,
            "readings_skipped": self.readings_skipped, "ts_fallbacks": self.ts_fallbacks,
            "merge_fallbacks": self.merge_fallbacks, "batches_split": self.batches_split,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            # What the next run looks at again, by (escaped) name; bounded, it goes to XCom.
            "skipped": dict(list(self.skipped.items())[:_SUMMARY_NAMES]),
        }

    def skip(self, name: str, reason: str) -> None:
        self.files_skipped += 1
        self.skipped[name] = reason


_SUMMARY_NAMES = 100


@dataclass
class PendingFile:
    """One file of a batch, read and hashed, waiting for the batch transaction."""

    path: str | None  # in Bronze; None when it never got there
    name: str
    data: bytes
    digest: str
    supersedes: tuple[int, datetime | None] | None  # (file_id, reading_ts) of the current older version
    parsed: SensorFileName | BadFileName | None = None  # None: not parsed yet
    rejected: str | None = None  # why it is quarantined without being parsed (not a file, too large, refused)
    size: int | None = None  # when ``data`` was not read: the size found
    retry_of: int | None = None  # file_id of this content's quarantine row for an unknown handle, now registered

    @classmethod
    def of_rejected(cls, name: str, error: ShareEntryError, supersedes: tuple[int, datetime | None] | None,
                    naming: FileNaming) -> PendingFile:
        return cls(None, name, b"", error.digest, supersedes, parse_or_error(name, naming), error.reason,
                   error.size)


_MANIFEST_COLUMNS = (
    "file_id", "source_name", "apartment", "file_ts", "checksum", "size_bytes", "status", "reason", "rows",
    "skipped_readings", "skip_reasons", "payload_ts", "reading_ts", "ts_fallback", "payload_gap_minutes",
    "bronze_path",
)
_COPY_READINGS = ("COPY silver.sensor_readings (ts, file_id, value, series_id, is_outlier) "
                  "FROM STDIN (FORMAT BINARY)")
# PostgreSQL binary COPY framing and the fixed parts of a row (see domotic.sensors.flatten's fast path).
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_PREFIX = struct.Struct(">hiqii").pack  # 5 fields; ts: len 8 + int64 µs since 2000-01-01; file_id: len 4 + int4
_SUFFIX = struct.Struct(">iiib").pack  # series_id: len 4 + int4; is_outlier: len 1 + bool
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _NewSeries(Exception):
    """A reading of a series the registry does not know yet: the file takes the checked path (``_readings``)."""


def _refuse_new_series(*_: object) -> tuple[float, float, bytes, bytes]:
    raise _NewSeries


class BatchEncoder:
    """Turns a batch of pending files into binary COPY rows and manifest rows (pure Python, no DB work except
    creating the series a file brings, on the registry's own connection)."""

    def __init__(self, registry: SeriesRegistry, naming: FileNaming, stats: LoadStats,
                 limits: LoadLimits = DEFAULT_LIMITS) -> None:
        self.registry, self.naming, self.stats, self.limits = registry, naming, stats, limits
        self.manifest: list[tuple] = []

    def _quarantine(self, item: PendingFile, file_id: int, reason: str, apartment: str | None = None,
                    file_ts: datetime | None = None) -> None:
        reason = safe_text(reason)
        self.stats.files_quarantined += 1
        self.stats.quarantined[item.name] = reason
        if self.stats.files_quarantined <= QUARANTINE_LOG_FILES:
            log.warning("Quarantined %r: %s", item.name, reason)
        elif self.stats.files_quarantined == QUARANTINE_LOG_FILES + 1:
            log.warning("More than %d files quarantined: the rest are counted in the load's summary",
                        QUARANTINE_LOG_FILES)
        size = len(item.data) if item.size is None else item.size
        self.manifest.append((file_id, item.name, apartment, file_ts, item.digest, min(size, _MAX_INT4),
                              "quarantined", reason, 0, 0, None, None, None, False, None, item.path))

    def chunks(self, items: Sequence[PendingFile], file_ids: Sequence[int]) -> Iterator[bytes]:
        """Binary COPY rows per file, in order; manifest rows accumulate in ``self.manifest``."""
        for item, file_id in zip(items, file_ids, strict=True):
            rows = self._encode(item, file_id)
            if rows is not None:
                yield rows

    def _encode(self, item: PendingFile, file_id: int) -> bytes | None:
        """One file's COPY rows and manifest row; None (and a quarantine row) when it cannot be loaded."""
        parsed = item.parsed if item.parsed is not None else parse_or_error(item.name, self.naming)
        where = (None, None) if isinstance(parsed, BadFileName) else (parsed.apartment, parsed.minute_utc)
        if item.rejected is not None:
            self._quarantine(item, file_id, item.rejected, *where)
            return None
        if isinstance(parsed, BadFileName):
            self._quarantine(item, file_id, str(parsed))
            return None
        try:
            payload = orjson.loads(item.data)
        except orjson.JSONDecodeError as exc:
            self._quarantine(item, file_id, f"invalid JSON: {exc}", *where)
            return None
        if not isinstance(payload, dict):
            self._quarantine(item, file_id, "JSON document is not an object", *where)
            return None
        naive = parse_payload_minute(payload.get("datetime"))
        payload_ts = to_utc(naive, parsed.source_tz) if naive else None
        reading_ts = payload_ts or parsed.minute_utc  # rule 4: fall back to the file-name minute, never now()
        # Binary COPY rows (ts, file_id, value, series_id, is_outlier): the per-file prefix and the per-series
        # suffixes are prebuilt bytes, so each reading costs one struct.pack and two concatenations.
        prefix = _PREFIX(5, 8, (reading_ts - _PG_EPOCH) // _MICROSECOND, 4, file_id)
        try:
            lines, skipped_by_reason = self._readings(payload, prefix, parsed.apartment, parsed.minute_utc.date())
        except BadContent as exc:
            self._quarantine(item, file_id, str(exc), *where)
            if exc.capped:
                self.stats.capped[item.name] = safe_text(exc)
            return None
        self._record_loaded(item, file_id, parsed, payload, payload_ts, reading_ts, lines, skipped_by_reason)
        return b"".join(lines)

    def _readings(self, payload: dict, prefix: bytes, apartment: str, day: date) -> tuple[list[bytes], Counter]:
        """The file's COPY rows. Known series only: the fast path as it is. A new series sends the file through
        the registry's checks first (names, caps; ``SeriesRegistry.admit``), which are paid once per series."""
        cache = self.registry.by_apartment.setdefault(apartment, {})
        lines: list[bytes] = []
        skipped: Counter[str] = Counter()
        try:
            payload_copy_lines(payload, prefix, cache, _refuse_new_series, lines, skipped)
        except _NewSeries:
            self.registry.admit(apartment, day, flatten_payload(payload).readings, self.limits)
            lines, skipped = [], Counter()
            payload_copy_lines(payload, prefix, cache, self.registry.creator(apartment, day), lines, skipped)
        if len(lines) > self.limits.max_series_per_file:
            raise BadContent(f"{len(lines)} readings in one file, over the cap sensor_max_series_per_file="
                             f"{self.limits.max_series_per_file}", capped=True)
        return lines, skipped

    def _record_loaded(self, item: PendingFile, file_id: int, parsed: SensorFileName, payload: dict,
                       payload_ts: datetime | None, reading_ts: datetime, lines: list[bytes],
                       skipped_by_reason: Counter[str]) -> None:
        stats = self.stats
        reason = None
        if payload_ts is None:
            stats.ts_fallbacks += 1
            reason = f"payload datetime {safe_text(payload.get('datetime'), 40)!r} unparsable: file-name minute used"
            log.warning("%r: %s", item.name, reason)
        skipped = sum(skipped_by_reason.values())
        stats.rows += len(lines)
        stats.readings_skipped += skipped
        stats.files_loaded += 1
        stats.widen(reading_ts)
        gap = None if payload_ts is None else int((payload_ts - parsed.minute_utc).total_seconds() // 60)
        self.manifest.append((file_id, item.name, parsed.apartment, parsed.minute_utc, item.digest, len(item.data),
                              "loaded", reason, len(lines), skipped,
                              Jsonb(dict(skipped_by_reason)) if skipped else None, payload_ts, reading_ts,
                              payload_ts is None, gap, item.path))


_MAX_INT4 = 2**31 - 1


def _manifest_state(conn: psycopg.Connection, names: list[str]
                    ) -> tuple[set[tuple[str, str]], dict, dict[tuple[str, str], int]]:
    """(name, checksum) pairs the manifest holds, the current version's (file_id, reading_ts) by name, and the
    file_id of the contents quarantined for an unknown owner handle (retried: the handle may be registered now).
    """
    rows = conn.execute(
        "SELECT source_name, checksum, file_id, reading_ts, is_current, "
        "status = 'quarantined' AND starts_with(reason, %s) FROM silver.file_manifest "
        "WHERE source_name = ANY(%s)",
        (UNKNOWN_HANDLE, names),
    ).fetchall()
    seen = {(name, digest) for name, digest, *_ in rows}
    current = {name: (file_id, reading_ts) for name, _, file_id, reading_ts, is_current, _ in rows if is_current}
    retry = {(name, digest): file_id for name, digest, file_id, _, _, unknown in rows if unknown}
    return seen, current, retry


def _one_version_per_name(pending: list[PendingFile], stats: LoadStats) -> list[PendingFile]:
    """The same name twice in one batch with different content: the last one listed is the current version."""
    by_name = {item.name: item for item in pending}
    stats.files_unchanged += len(pending) - len(by_name)
    return list(by_name.values())


def _read_bronze_batch(paths: Sequence[str], conn: psycopg.Connection, stats: LoadStats,
                       recorded_path: Callable[[str], str] | None = None) -> list[PendingFile]:
    """Read and hash a batch of Bronze files; drop content already in the manifest; note what it supersedes.

    ``recorded_path`` gives the path the manifest records for a file read elsewhere (a replay's extraction).
    """
    items = []
    for path in paths:
        try:
            data, _ = _read_file(path)
        except FileNotFoundError:
            log.warning("Bronze file vanished before loading: %r", path)
            continue
        items.append((path, canonical_name(os.path.basename(path)), data))
    stats.files_seen += len(items)
    seen, current, _ = _manifest_state(conn, [name for _, name, _ in items])
    pending: list[PendingFile] = []
    for path, name, data in items:
        digest = checksum(data)
        if (name, digest) in seen:
            stats.files_unchanged += 1
            continue
        seen.add((name, digest))
        pending.append(PendingFile(recorded_path(path) if recorded_path else path, name, data, digest,
                                   current.get(name)))
    return _one_version_per_name(pending, stats)


# What the database refuses for a file's content (and never for an outage): psycopg's client-side DataError
# (a NUL in text), SQLSTATE classes 22 (data exception) and 23 (integrity; UniqueViolation is merged before),
# class 54 (program limit exceeded: an index row too large; psycopg files it under OperationalError, which
# the retry policy retries), and text that cannot even be encoded.
_REFUSED_CONTENT = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded, UnicodeError)


def _load_isolating(conn: psycopg.Connection, registry: SeriesRegistry, items: list[PendingFile], naming: FileNaming,
                    stats: LoadStats, ledger_source: str = "sensor_load", limits: LoadLimits = DEFAULT_LIMITS) -> None:
    """``_load_batch``, and when the database refuses the batch for its content, the same on each half until
    the file it refuses is alone: that file is quarantined with the database's reason, the others load.

    A bad file costs about 2·log2(batch) reloads of small batches; content is checked before COPY
    (``SeriesRegistry.admit``), so this is the net under it, not the usual path.
    """
    try:
        _load_batch(conn, registry, items, naming, stats, ledger_source, limits)
        return
    except _REFUSED_CONTENT as exc:
        refusal = exc
    if len(items) == 1:
        _quarantine_refused(conn, registry, items[0], refusal, naming, stats, limits)
        return
    stats.batches_split += 1
    log.warning("The database refused a batch of %d files (%s): loading it in halves to find the file",
                len(items), safe_text(refusal, 200))
    middle = len(items) // 2
    for half in (items[:middle], items[middle:]):
        _load_isolating(conn, registry, half, naming, stats, ledger_source, limits)


def _quarantine_refused(conn: psycopg.Connection, registry: SeriesRegistry, item: PendingFile, refusal: Exception,
                        naming: FileNaming, stats: LoadStats, limits: LoadLimits) -> None:
    """Record a file the database refused as quarantined, with the database's reason; if even that row is
    refused, the file is skipped and logged (no content may stop the others)."""
    code = getattr(getattr(refusal, "diag", None), "sqlstate", None) or type(refusal).__name__
    reason = f"the database refused its content ({code}): {safe_text(str(refusal).strip(), 300)}"
    refused = PendingFile(item.path, item.name, b"", item.digest, item.supersedes, item.parsed, reason,
                          len(item.data) if item.size is None else item.size, item.retry_of)
    try:
        _load_batch(conn, registry, [refused], naming, stats, limits=limits)
    except _REFUSED_CONTENT as exc:
        stats.skip(item.name, f"refused, and its quarantine row too: {safe_text(exc, 200)}")
        log.error("File %r refused by the database and not recordable (%s): skipped", item.name,
                  safe_text(exc, 200))


def _load_batch(conn: psycopg.Connection, registry: SeriesRegistry, items: list[PendingFile], naming: FileNaming,
                stats: LoadStats, ledger_source: str = "sensor_load", limits: LoadLimits = DEFAULT_LIMITS) -> None:
    """One transaction: retire superseded versions, stream readings, record the manifest."""
    file_ids = [row[0] for row in conn.execute(
        "SELECT nextval(pg_get_serial_sequence('silver.file_manifest', 'file_id')) "
        "FROM generate_series(1, %s)", (len(items),)).fetchall()]
    superseded = [(item.name, *item.supersedes) for item in items if item.supersedes]
    batch_stats = LoadStats()
    with conn.transaction():
        # Losing the last commits in a crash is safe: the manifest rolls back with the readings, and the
        # files are loaded again on the next run.
        conn.execute("SET LOCAL synchronous_commit = off")
        if superseded:
            _retire_superseded(conn, superseded)
        retried = [item.retry_of for item in items if item.retry_of is not None]
        if retried:
            # Files quarantined for an unknown handle, loaded now that it is registered: the quarantine row
            # gives way to the new one (same name and content).
            conn.execute("DELETE FROM silver.file_manifest WHERE file_id = ANY(%s)", (retried,))
        batch = BatchEncoder(registry, naming, batch_stats, limits)
        try:
            with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY_READINGS) as copy:
                _stream(copy, batch.chunks(items, file_ids))
        except psycopg.errors.UniqueViolation:
            # Two files claim the same (minute, series): merge through staging; the later file wins.
            batch_stats = LoadStats(merge_fallbacks=1)
            batch = BatchEncoder(registry, naming, batch_stats, limits)
            _merge_batch(conn, batch, items, file_ids)
        for _, _, old_ts in superseded:
            if old_ts is not None:
                batch_stats.widen(old_ts)  # deleted readings change Silver too
        with conn.cursor() as cur:
            with cur.copy(f"COPY silver.file_manifest ({', '.join(_MANIFEST_COLUMNS)}) FROM STDIN") as copy:
                for row in batch.manifest:
                    copy.write_row(row)
            if batch_stats.window_start is not None:
                # Gold's work list, committed with the readings it describes (never lost with an asset event).
                record_change(cur, "sensor", batch_stats.window_start, batch_stats.window_end, ledger_source)
    batch_stats.files_reloaded = len(superseded)
    stats.merge(batch_stats)


def _stream(copy: psycopg.Copy, chunks: Iterator[bytes], flush_bytes: int = 1 << 18) -> None:
    """Write a binary COPY: header, the rows in writes of ~256 kB (one write per file costs more), trailer."""
    copy.write(_COPY_HEADER)
    pending: list[bytes] = []
    size = 0
    for rows in chunks:
        pending.append(rows)
        size += len(rows)
        if size >= flush_bytes:
            copy.write(b"".join(pending))
            pending.clear()
            size = 0
    pending.append(_COPY_TRAILER)
    copy.write(b"".join(pending))


def _retire_superseded(conn: psycopg.Connection, superseded: list[tuple[str, int, datetime | None]]) -> None:
    """Delete the readings of the versions being replaced and mark them not current."""
    ids = [file_id for _, file_id, _ in superseded]
    times = [ts for _, _, ts in superseded]
    conn.execute(
        "DELETE FROM silver.sensor_readings r USING unnest(%s::timestamptz[], %s::int[]) AS old(ts, file_id) "
        "WHERE r.ts = old.ts AND r.file_id = old.file_id",
        (times, ids),
    )
    conn.execute("UPDATE silver.file_manifest SET is_current = false WHERE file_id = ANY(%s)", (ids,))


def _merge_batch(conn: psycopg.Connection, batch: BatchEncoder, items: list[PendingFile], file_ids: list[int]) -> None:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS sensor_readings_stage "
        "(LIKE silver.sensor_readings INCLUDING DEFAULTS, ord bigint GENERATED ALWAYS AS IDENTITY) "
        "ON COMMIT DELETE ROWS"
    )
    with conn.cursor() as cur, cur.copy(
        "COPY sensor_readings_stage (ts, file_id, value, series_id, is_outlier) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        _stream(copy, batch.chunks(items, file_ids))
    conn.execute(
        """
        INSERT INTO silver.sensor_readings AS r (ts, value, series_id, file_id, is_outlier)
        SELECT DISTINCT ON (ts, series_id) ts, value, series_id, file_id, is_outlier
        FROM sensor_readings_stage
        ORDER BY ts, series_id, file_id DESC, ord DESC  -- the later file, and within a file the later value
        ON CONFLICT ON CONSTRAINT sensor_readings_pkey DO UPDATE
        SET value = EXCLUDED.value, file_id = EXCLUDED.file_id, is_outlier = EXCLUDED.is_outlier
        """
    )


@contextmanager
def _loading_session(connect: Connect, bounds: dict[tuple[str, str], Bounds] | None, source_tz: str,
                     apartments: ApartmentRegistry | None = None
                     ) -> Iterator[tuple[psycopg.Connection, SeriesRegistry, FileNaming]]:
    """The loading connection (each batch is one explicit transaction on it), the series registry, and the
    file naming: the apartment registry given, or read from the warehouse once (one small query)."""
    from domotic.warehouse.tenants import read_registry

    registry = SeriesRegistry(connect, bounds)
    conn = connect()
    conn.autocommit = True  # each batch is one explicit transaction (conn.transaction())
    try:
        registry.preload(conn)
        naming = FileNaming(read_registry(conn) if apartments is None else apartments, source_tz)
        yield conn, registry, naming
    finally:
        conn.close()
        registry.close()


def _in_batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_bronze_files(
    connect: Connect,
    paths: Sequence[str],
    source_tz: str = "UTC",
    batch_files: int = 5000,
    bounds: dict[tuple[str, str], Bounds] | None = None,
    on_batch: Callable[[LoadStats], None] | None = None,
    ledger_source: str = "sensor_load",
    limits: LoadLimits = DEFAULT_LIMITS,
    recorded_path: Callable[[str], str] | None = None,
    apartments: ApartmentRegistry | None = None,
) -> LoadStats:
    """Load Bronze files into Silver (see module docstring). Returns what happened, for logs and assets.

    ``ledger_source`` names the writer in Gold's work ledger (``archive_replay`` for a compaction replay);
    ``recorded_path`` maps a path read to the one the manifest keeps (a replay reads a temporary extraction);
    ``apartments``: the apartment registry (read from the warehouse when omitted).
    """
    stats = LoadStats()
    with _loading_session(connect, bounds, source_tz, apartments) as (conn, registry, naming):
        for batch in _in_batches(paths, batch_files):
            items = _read_bronze_batch(batch, conn, stats, recorded_path)
            if items:
                _load_isolating(conn, registry, items, naming, stats, ledger_source, limits)
            if on_batch:
                on_batch(stats)
    return stats


def log_quarantined(stats: LoadStats, reasons: int = 10) -> None:
    """The load's quarantined files in its task log: the first ``QUARANTINE_LOG_FILES`` by name, the rest
    counted by reason (the most frequent first; a reason that names its file counts with the same reason of
    other files). silver.file_manifest names every one."""
    quarantined = list(stats.quarantined.items())
    for name, reason in quarantined[:QUARANTINE_LOG_FILES]:
        log.warning("QUARANTINED %r: %s", name, reason)
    rest = quarantined[QUARANTINE_LOG_FILES:]
    if not rest:
        return
    by_reason = Counter(reason.replace(name, "<file>") for name, reason in rest).most_common()
    counted = "; ".join(f"{count} x {reason}" for reason, count in by_reason[:reasons])
    more = f"; and {len(by_reason) - reasons} other reasons" if len(by_reason) > reasons else ""
    log.warning("QUARANTINED %d more file(s) (silver.file_manifest names each, status 'quarantined'), by reason: "
                "%s%s", len(rest), counted, more)


def quarantine_entries(connect: Connect, rejected: Sequence[tuple[str, ShareEntryError]],
                       source_tz: str = "UTC", apartments: ApartmentRegistry | None = None) -> LoadStats:
    """Record share entries that were not read (links, folders, FIFOs, oversized files) as quarantined, once
    each (an entry found again as it was is known to the manifest and left alone)."""
    stats = LoadStats()
    if not rejected:
        return stats
    with _loading_session(connect, None, source_tz, apartments) as (conn, registry, naming):
        items = _pending_rejected(conn, rejected, stats, CopyResult(), naming)
        if items:
            _load_isolating(conn, registry, items, naming, stats)
    return stats


@dataclass
class IngestResult:
    bronze: CopyResult  # counts only: its bronze_paths stay empty (memory must not grow with the input)
    silver: LoadStats

    def summary(self) -> dict[str, Any]:
        return {**self.silver.summary(), "copied_to_bronze": self.bronze.copied,
                "already_in_bronze": self.bronze.already_in_bronze, "vanished": len(self.bronze.vanished)}


def ingest_share_files(
    connect: Connect,
    share: Path,
    names: Sequence[str],
    bronze_root: Path,
    source_tz: str = "UTC",
    batch_files: int = 5000,
    bounds: dict[tuple[str, str], Bounds] | None = None,
    on_batch: Callable[[LoadStats], None] | None = None,
    limits: LoadLimits = DEFAULT_LIMITS,
    apartments: ApartmentRegistry | None = None,
) -> IngestResult:
    """Share -> Bronze -> Silver in one pass per batch: each file is read and hashed once.

    Per batch: read the share files, ask the manifest which contents it already holds (those are skipped, not
    even copied), store the rest in Bronze, then load them in one transaction (``_load_batch``). A kill
    between the Bronze copy and the commit leaves files in Bronze that the manifest lacks: the re-run finds
    them there (same content), loads them, and changes nothing else. Entries that are not files to load are
    quarantined (links, folders, FIFOs, files over ``limits.max_file_bytes``) or skipped (vanished, changing).
    """
    stats, copied = LoadStats(), CopyResult()
    with _loading_session(connect, bounds, source_tz, apartments) as (conn, registry, naming):
        writer = BronzeWriter(bronze_root, naming)
        for batch in _in_batches(names, batch_files):
            items = _copy_share_batch(share, batch, conn, writer, copied, stats, naming, limits)
            if items:
                _load_isolating(conn, registry, items, naming, stats, limits=limits)
            if on_batch:
                on_batch(stats)
    if copied.vanished:
        log.warning("Files listed but gone when read: %r", copied.vanished)
    return IngestResult(copied, stats)


def _copy_share_batch(share: Path, names: Sequence[str], conn: psycopg.Connection, writer: BronzeWriter,
                      copied: CopyResult, stats: LoadStats, naming: FileNaming,
                      limits: LoadLimits = DEFAULT_LIMITS) -> list[PendingFile]:
    """Read a batch of share files; skip content the manifest holds; store the rest in Bronze, to load."""
    share_dir = str(share)
    read: list[tuple[str, bytes, float, str]] = []
    rejected_before = len(copied.rejected)
    for name in names:
        found = _read_share_entry(share_dir, name, limits, copied, stats)
        if found is not None:
            read.append((name, *found, checksum(found[0])))
    stats.files_seen += len(read)
    seen, current, retry = _manifest_state(conn, [name for name, _, _, _ in read])
    pending = _pending_rejected(conn, copied.rejected[rejected_before:], stats, copied, naming)
    for name, data, mtime, digest in read:
        parsed = parse_or_error(name, naming)
        retry_of = retry.get((name, digest)) if not isinstance(parsed, BadFileName) else None
        if (name, digest) in seen and retry_of is None:
            copied.unchanged += 1
            stats.files_unchanged += 1
            continue
        seen.add((name, digest))
        path = writer.store(name, data, mtime, digest, copied, parsed)
        supersedes = None if retry_of is not None else current.get(name)
        pending.append(PendingFile(path, name, data, digest, supersedes, parsed, retry_of=retry_of))
    return _one_version_per_name(pending, stats)


def _pending_rejected(conn: psycopg.Connection, rejected: Sequence[tuple[str, ShareEntryError]], stats: LoadStats,
                      copied: CopyResult, naming: FileNaming) -> list[PendingFile]:
    """The rejected entries the manifest does not hold yet, as files to quarantine."""
    stats.files_seen += len(rejected)
    seen, current, _ = _manifest_state(conn, [name for name, _ in rejected])
    pending = []
    for name, error in rejected:
        if (name, error.digest) in seen:
            copied.unchanged += 1
            stats.files_unchanged += 1
            continue
        seen.add((name, error.digest))
        pending.append(PendingFile.of_rejected(name, error, current.get(name), naming))
    return pending
