"""Weather files: each forecast CSV of a day older than the retention is replaced by a verified ``<name>.gz``.

Weather is one CSV a day (plus re-deliveries), so a per-day archive would save nothing: each file is compressed
on its own, with the same write, verify, rename, remove steps as the sensor day archives. The weather loader
already reads that form (``weather._existing_bronze_copy``); weather files are never deleted.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from domotic.maintenance.archive import GZIP_LEVEL, ArchiveVerificationError
from domotic.maintenance.atomic import atomic_path, is_tmp, remove_if_stale, sha256_file
from domotic.maintenance.bronze_tree import WEATHER_DIR, month_entries, retention_cutoff

_BUFSIZE = 1 << 20


@dataclass
class WeatherCompressionReport:
    cutoff: str = ""
    disabled: bool = False
    stale_tmp_removed: int = 0
    weather_files_compressed: int = 0
    weather_originals_removed: int = 0  # compressed by an earlier run that stopped before removing them
    weather_unsettled: int = 0

    def summary(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "disabled": self.disabled, "stale_tmp_removed": self.stale_tmp_removed,
                "weather_files_compressed": self.weather_files_compressed,
                "weather_originals_removed": self.weather_originals_removed,
                "weather_unsettled": self.weather_unsettled}


def compress_weather_files(bronze_root: Path, *, today: date, retention_days: int, settle_hours: float = 24.0,
                           now: float | None = None) -> WeatherCompressionReport:
    """gzip each weather CSV of the days older than the retention to ``<name>.gz`` (the loader reads both)."""
    report = WeatherCompressionReport()
    cutoff = retention_cutoff(today, retention_days)
    if cutoff is None:
        report.disabled = True
        return report
    report.cutoff = cutoff.isoformat()
    now = time.time() if now is None else now
    for _, day, folder in month_entries(Path(bronze_root) / WEATHER_DIR):
        if day is None or day >= cutoff or not folder.is_dir():
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = Path(entry.path)
            if not entry.is_file(follow_symlinks=False) or entry.name.endswith(".gz"):
                continue
            if is_tmp(entry.name):
                if remove_if_stale(path, now):
                    report.stale_tmp_removed += 1
                continue
            if now - entry.stat().st_ctime < settle_hours * 3600:
                report.weather_unsettled += 1
                continue
            had_gz = path.with_name(path.name + ".gz").exists()
            compress_file(path)
            if had_gz:
                report.weather_originals_removed += 1
            else:
                report.weather_files_compressed += 1
    return report


def compress_file(path: Path) -> Path:
    """Replace ``path`` by a verified ``path.gz`` (tmp + verify + fsync + rename, then remove the original)."""
    final = path.with_name(path.name + ".gz")
    digest = sha256_file(path)
    with contextlib.suppress(OSError, EOFError, gzip.BadGzipFile):
        if final.exists() and _gunzip_digest(final) == digest:  # done before; the removal did not happen
            path.unlink()
            return final
    with atomic_path(final) as tmp:
        with open(path, "rb") as source, open(tmp, "wb") as raw, \
                gzip.GzipFile(filename=path.name, fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL,
                              mtime=int(path.stat().st_mtime)) as gz:
            shutil.copyfileobj(source, gz, _BUFSIZE)
        if _gunzip_digest(tmp) != digest:
            raise ArchiveVerificationError(f"{tmp}: compressed copy of {path} does not decompress to it")
        stat = path.stat()
        os.utime(tmp, (stat.st_atime, stat.st_mtime))
    path.unlink()
    return final


def _gunzip_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_BUFSIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()
