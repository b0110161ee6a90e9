"""The sensor DAGs' task bodies: read settings and connections at run time, call the loaders, log a summary.

DAG files stay thin (schedule and wiring); everything here is plain Python that tests can call directly.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from domotic.airflow_adapter import raise_alert, setting, warehouse_connect
from domotic.errors import SourceMissingError, storage_errors
from domotic.sensors.load import (
    CopyResult,
    LoadLimits,
    LoadStats,
    copy_to_bronze,
    ingest_share_files,
    known_checksums,
    list_share_day,
    load_bronze_files,
    log_quarantined,
    quarantine_entries,
)
from domotic.sensors.outliers import DEFAULT_BOUNDS, parse_overrides
from domotic.sensors.replay import replay_generations, restore_archived_day
from domotic.warehouse.tenants import read_registry

log = logging.getLogger(__name__)


def _paths() -> tuple[Path, Path, str]:
    return Path(setting("domotic_smb_path")), Path(setting("domotic_bronze_root")), setting("domotic_source_tz")


def _limits() -> LoadLimits:
    return LoadLimits(setting("sensor_max_file_bytes"), setting("sensor_max_series_per_file"),
                      setting("sensor_max_new_series_per_day"))


def minute_apartments(minute: datetime) -> list[list[str | None]]:
    """The apartments active on the minute's UTC day, ``[[apartment_id, handle, source_tz], ...]``: what
    ``sensors_minutely`` predicts (one small query per run)."""
    with contextlib.closing(warehouse_connect()()) as conn:
        registry = read_registry(conn, active_on=minute.date())
    return [[a.apartment_id, a.handle, a.source_tz] for a in registry]


def copy_names(names: Sequence[str]) -> list[str]:
    """Copy the given share files to Bronze (minutely path); returns the Bronze paths that need loading.

    Entries that are not files to load (a link, a folder, an oversized file) are quarantined here at once.
    """
    share, bronze_root, source_tz = _paths()
    with storage_errors(f"Bronze {bronze_root}"):
        result = _copy(share, list(names), bronze_root, source_tz)
    if result.rejected:
        _log_summary(quarantine_entries(warehouse_connect(), result.rejected, source_tz))
    return result.bronze_paths


def list_day(day: date, chunk_files: int | None = None) -> list[list[str]]:
    """List the share once for a UTC day (plus unparsable names), split into chunks of whole hours of at most
    ``sensor_chunk_files`` files.

    Each chunk becomes one mapped ``ingest_chunk`` task: a big day spreads over as many workers as the
    deployment has, a small one costs a single task (a history backfill runs days side by side anyway);
    unparsable names ride with the first chunk, to be quarantined.
    """
    share, bronze_root, source_tz = _paths()
    if not share.is_dir():
        raise SourceMissingError(f"sensor share folder {share} does not exist or is not mounted "
                                 "(Variable domotic_smb_path)")
    connect = warehouse_connect()
    with contextlib.closing(connect()) as conn:
        apartments = read_registry(conn)  # every registered apartment: a re-run of an old day loads its files
    listing = list_share_day(share, day, source_tz, apartments)
    log.info("Share %s: %d files for %s, %d unparsable names", share, len(listing.names), day,
             len(listing.bad_names))
    max_files = chunk_files or setting("sensor_chunk_files")
    if not listing.names:
        # The share no longer holds the day (cleaned, or emptied for good): replay it from Bronze's compacted
        # archive, before concluding anything from an empty share (runbook 7.1).
        with storage_errors(f"Bronze {bronze_root}"):
            restored = restore_archived_day(bronze_root, day, connect)
        if restored:
            log.info("Day %s is not on the share: %d archived Bronze files restored for replay", day, len(restored))
            return [[*restored, *listing.bad_names]]  # one chunk: the day's files, as they were loaded
    if listing.entries == 0:
        # An empty mount point is what an unmounted SMB share looks like: fail loudly instead of
        # "successfully" loading nothing (the original's watcher silently did that).
        raise SourceMissingError(f"sensor share folder {share} is empty: is the SMB share mounted?")
    return listing.chunks(max_files)


def reconcile_day(day: date, chunk_files: int | None = None) -> tuple[dict[str, Any] | None, list[list[str]]]:
    """``list_day``, then a day that is a single chunk is loaded right here: one task instance per day, which is
    what a history backfill of small days pays for (each task instance costs a process start-up of seconds on
    a small machine). Returns the load summary (None when nothing was loaded here) and the chunks left for the
    mapped ``ingest_chunk`` tasks (none for a single-chunk day)."""
    chunks = list_day(day, chunk_files)
    if len(chunks) == 1:
        log.info("Day %s is one chunk of %d entries: loaded in this task", day, len(chunks[0]))
        return ingest_chunk(chunks[0]), []
    log.info("Day %s is %d chunks: one ingest_chunk task each", day, len(chunks))
    return None, chunks


def ingest_chunk(names: Sequence[str]) -> dict[str, Any]:
    """Copy a chunk of share files to Bronze and load what is new into Silver; returns the load summary.

    Absolute paths in ``names`` are Bronze files restored from a compacted archive: loaded as they are.
    """
    share, bronze_root, source_tz = _paths()
    restored = [name for name in names if os.path.isabs(name)]
    share_names = [name for name in names if not os.path.isabs(name)]
    summaries = []
    if restored:
        # First versions, then each later re-delivery, as they were loaded originally (same manifest history).
        summaries += [load_paths(generation, ledger_source="archive_replay").summary()
                      for generation in replay_generations(restored)]
    if share_names:
        with storage_errors(f"Bronze {bronze_root}"):
            result = ingest_share_files(
                warehouse_connect(), share, share_names, bronze_root, source_tz=source_tz,
                batch_files=int(setting("sensor_batch_files")), bounds=_bounds(), limits=_limits(),
                on_batch=lambda s: log.info("progress: %d/%d files, %d rows", s.files_seen, len(share_names),
                                            s.rows),
            )
        log.info("Bronze %s: %d copied, %d already in Bronze, %d unchanged (already loaded), %d vanished",
                 bronze_root, result.bronze.copied, result.bronze.already_in_bronze, result.bronze.unchanged,
                 len(result.bronze.vanished))
        _log_summary(result.silver)
        summaries.append(result.silver.summary())
    return merge_summaries(summaries)


def merge_summaries(summaries: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """One summary for a day from its chunks: counts added up, windows united (for the asset event)."""
    total: dict[str, Any] = {}
    starts, ends = [], []
    for summary in filter(None, summaries):
        for key, value in summary.items():
            if key == "window_start" and value:
                starts.append(value)
            elif key == "window_end" and value:
                ends.append(value)
            elif isinstance(value, int):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                total[key] = {**total.get(key, {}), **value}
    total["window_start"] = min(starts) if starts else None
    total["window_end"] = max(ends) if ends else None
    return total


def _copy(share: Path, names: list[str], bronze_root: Path, source_tz: str) -> CopyResult:
    connect = warehouse_connect()
    conn = connect()
    try:
        known = known_checksums(conn, names)
        apartments = read_registry(conn)
    finally:
        conn.close()
    result = copy_to_bronze(share, names, bronze_root, known, source_tz, _limits(), apartments=apartments)
    log.info("Bronze %s: %d copied, %d already in Bronze, %d unchanged (already loaded), %d vanished",
             bronze_root, result.copied, result.already_in_bronze, result.unchanged, len(result.vanished))
    if result.vanished:
        log.warning("Files listed but gone when read: %r", result.vanished)
    return result


def load_paths(paths: Sequence[str], ledger_source: str = "sensor_load") -> LoadStats:
    """Load Bronze files into Silver; logs per-file quarantine reasons and a summary."""
    stats = load_bronze_files(
        warehouse_connect(),
        list(paths),
        source_tz=setting("domotic_source_tz"),
        batch_files=int(setting("sensor_batch_files")),
        bounds=_bounds(),
        on_batch=lambda s: log.info("progress: %d/%d files, %d rows", s.files_seen, len(paths), s.rows),
        ledger_source=ledger_source,
        limits=_limits(),
    )
    _log_summary(stats)
    return stats


def _bounds() -> dict:
    return {**DEFAULT_BOUNDS, **parse_overrides(setting("sensor_outlier_bounds") or None)}


def _log_summary(stats: LoadStats) -> None:
    log.info("Silver load summary: %s", stats.summary())
    log_quarantined(stats)
    for name, reason in stats.skipped.items():
        log.warning("SKIPPED (next run looks again) %r: %s", name, reason)
    if stats.capped:
        # A cap protects the series registry from a flood; hitting one means a broken or hostile source: say so.
        raise_alert("sensor_cap", subject=f"{len(stats.capped)} sensor file(s) over a cap, quarantined",
                    message="Sensor files went over a cap (sensor_max_series_per_file or "
                            "sensor_max_new_series_per_day) and were quarantined; the rest loaded. Check the "
                            "source, then see docs/runbook.md 7.5.",
                    details={"files": dict(list(stats.capped.items())[:20])})


def asset_extra(stats: LoadStats | dict[str, Any]) -> dict[str, Any]:
    """What Gold needs from the asset event: the changed time window (half-open, UTC) and counts."""
    summary = stats.summary() if isinstance(stats, LoadStats) else stats
    return {key: summary.get(key) for key in ("window_start", "window_end", "files_loaded", "rows",
                                              "files_quarantined")}
