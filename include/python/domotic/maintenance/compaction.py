"""Bronze compaction: each sensor apartment-day older than the retention becomes one verified day archive.

A sensor day folder ``<bronze_root>/<apartment>/YYYY/MM/DD/`` holds 1,440 small files per apartment (plus
re-delivered versions). Once a day is older than the retention it is packed into ``DD.tar.gz`` beside it (the
format: ``domotic.maintenance.archive``). The order of the steps is what makes it safe:

1. the archive is written under a temporary name (``.DD.tar.gz.tmp-<pid>``);
2. it is read back and verified: exactly the expected members, each with the sha256 of its original;
3. it is fsynced, renamed to ``DD.tar.gz`` (atomic) and the directory fsynced;
4. only then each loose file is removed, and only if its sha256 (read again) equals its archive member.

A crash before step 3 leaves the folder untouched (the stale temporary is removed on the next run); a crash
after it leaves a complete archive plus some loose files, which the next run recognises as archived and
removes. A day that has both an archive and loose files that are *not* in it (a late file copied after
compaction, a replay restored from the archive) gets a new archive holding the union; a loose file whose
name is already archived with other content is kept as a re-delivery (``<name>.<sha12>``), as Bronze does.
Re-running does nothing. Days whose newest file is younger than the settle time (ctime) are left for a later
run, so a file copied into an old day is loaded before it can be packed; a day holding a file Silver never
recorded is left as it is. ``_quarantine/`` is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domotic.errors import PermanentError
from domotic.maintenance.archive import (
    ARCHIVE_SUFFIX,
    ArchiveVerificationError,
    archive_digests,
    redelivery_member,
    write_archive,
)
from domotic.maintenance.atomic import is_tmp, remove_if_stale, sha256_file
from domotic.maintenance.bronze_tree import apartments, month_entries, retention_cutoff
from domotic.sensors.load import known_checksums
from domotic.sensors.names import canonical_name

log = logging.getLogger(__name__)

# names -> {(source name, sha256)} Silver has recorded (loaded or quarantined): see manifest_lookup.
KnownContent = Callable[[list[str]], set[tuple[str, str]]]
# (path relative to the day folder, path, sha256) of a loose file.
HashedFile = tuple[str, Path, str]


class CompactionIncompleteError(PermanentError):
    """Some days could not be compacted (files never loaded, or not matching the archive); nothing was lost."""


@dataclass
class DayOutcome:
    apartment: str
    day: str
    action: str  # archived | merged | cleaned | unsettled | unloaded | empty
    files_archived: int = 0  # files added to the archive by this run
    files_removed: int = 0  # loose files removed (each verified against the archive)
    kept: list[str] = field(default_factory=list)  # loose files that could not be matched (left in place)
    unloaded: list[str] = field(default_factory=list)  # files Silver never recorded (the day is left as is)
    archive: str | None = None
    archive_bytes: int = 0


@dataclass
class CompactionReport:
    cutoff: str = ""
    disabled: bool = False
    days: list[DayOutcome] = field(default_factory=list)
    stale_tmp_removed: int = 0

    def summary(self) -> dict[str, Any]:
        by_action: dict[str, int] = {}
        for outcome in self.days:
            by_action[outcome.action] = by_action.get(outcome.action, 0) + 1
        return {
            "cutoff": self.cutoff, "disabled": self.disabled, "days_by_action": by_action,
            "files_archived": sum(o.files_archived for o in self.days),
            "files_removed": sum(o.files_removed for o in self.days),
            "files_kept": sum(len(o.kept) for o in self.days),
            "unsettled_days": [f"{o.apartment}/{o.day}" for o in self.days if o.action == "unsettled"],
            "unloaded_days": [f"{o.apartment}/{o.day}" for o in self.days if o.action == "unloaded"],
            "stale_tmp_removed": self.stale_tmp_removed,
        }


def manifest_lookup(connect: Callable[[], Any]) -> KnownContent:
    """``names -> {(source name, sha256)}`` already in ``silver.file_manifest`` (loaded or quarantined)."""

    def known(names: list[str]) -> set[tuple[str, str]]:
        conn = connect()
        try:
            return known_checksums(conn, names)
        finally:
            conn.close()

    return known


def compact_sensor_days(bronze_root: Path, *, today: date, retention_days: int, settle_hours: float = 24.0,
                        now: float | None = None, known: KnownContent | None = None) -> CompactionReport:
    """Compact every apartment-day of Bronze older than ``today - retention_days`` (UTC days).

    ``known``: see ``compact_day`` (the DAG always passes the manifest lookup).
    """
    report = CompactionReport()
    cutoff = retention_cutoff(today, retention_days)
    if cutoff is None:
        report.disabled = True
        log.info("Bronze compaction disabled (bronze_retention_days < 0)")
        return report
    report.cutoff = cutoff.isoformat()
    now = time.time() if now is None else now
    for apartment in apartments(bronze_root):
        for name, day, path in month_entries(Path(bronze_root) / apartment):
            if is_tmp(name):
                # An archive whose writer died before the rename: incomplete by construction.
                if remove_if_stale(path, now):
                    report.stale_tmp_removed += 1
                continue
            if day is None or day >= cutoff or not path.is_dir():
                continue
            report.days.append(compact_day(path, apartment, day, now=now,
                                           settle_seconds=settle_hours * 3600, known=known))
    return report


def compact_day(folder: Path, apartment: str, day: date, *, now: float | None = None,
                settle_seconds: float = 0.0, known: KnownContent | None = None) -> DayOutcome:
    """Pack one apartment-day folder into ``DD.tar.gz`` (see the module docstring); idempotent.

    With ``known`` (``manifest_lookup``), a day holding a file whose content Silver has not recorded is left
    as it is (action ``unloaded``): compaction never takes a file away before it has been loaded.
    """
    now = time.time() if now is None else now
    archive = folder.with_name(folder.name + ARCHIVE_SUFFIX)
    outcome = DayOutcome(apartment, day.isoformat(), "empty", archive=str(archive))
    files, temporaries = _loose_files(folder)
    if not _settled([path for _, path in files] + temporaries, now, settle_seconds):
        outcome.action = "unsettled"
        log.info("%s %s: files younger than the settle time, left for a later run", apartment, day)
        return outcome
    for tmp in temporaries:  # a copy that crashed before its rename: never a Bronze file
        log.warning("Removing half-written temporary %s", tmp)
        tmp.unlink()
    hashed = [(rel, path, sha256_file(path)) for rel, path in files]
    unloaded = _unloaded(hashed, known)
    if unloaded:
        outcome.action, outcome.unloaded = "unloaded", unloaded
        log.error("%s %s: %d files are not in silver.file_manifest (never loaded): day left as it is; "
                  "re-run sensors_daily for %s. First ones: %s", apartment, day, len(unloaded), day,
                  unloaded[:5])
        return outcome
    if hashed:
        _archive_then_remove(archive, hashed, outcome)
    _remove_empty_dirs(folder)
    if archive.exists():
        outcome.archive_bytes = archive.stat().st_size
    return outcome


def _loose_files(folder: Path) -> tuple[list[tuple[str, Path]], list[Path]]:
    """(rel, path) of the files under a day folder, and the temporaries (half-written copies)."""
    files: list[tuple[str, Path]] = []
    temporaries: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            if is_tmp(name):
                temporaries.append(path)
            else:
                files.append((path.relative_to(folder).as_posix(), path))
    return files, temporaries


def _settled(paths: Sequence[Path], now: float, settle_seconds: float) -> bool:
    return all(now - path.stat().st_ctime >= settle_seconds for path in paths)


def _unloaded(hashed: list[HashedFile], known: KnownContent | None) -> list[str]:
    """Loose files whose (source name, sha256) Silver has not recorded; none when there is no lookup."""
    if known is None or not hashed:
        return []
    loaded = known(sorted({canonical_name(path.name) for _, path, _ in hashed}))
    return [str(path) for _, path, digest in hashed if (canonical_name(path.name), digest) not in loaded]


def _archive_then_remove(archive: Path, hashed: list[HashedFile], outcome: DayOutcome) -> None:
    """Add the loose files the archive lacks (a new or a merged archive), then remove every loose file that
    matches its member; records what happened in ``outcome``."""
    members = archive_digests(archive) if archive.exists() else {}
    targets, new = _member_names(hashed, members, archive)
    if new:
        outcome.action = "merged" if members else "archived"
        members = write_archive(archive, archive if members else None, new)
        outcome.files_archived = len(new)
        log.info("%s %s: %d files archived into %s (%d members)", outcome.apartment, outcome.day, len(new),
                 archive, len(members))
    else:
        outcome.action = "cleaned"  # a previous run archived them and stopped before removing them
    outcome.files_removed, outcome.kept = _remove_archived(targets, members)
    if outcome.kept:
        log.error("%s %s: %d loose files do not match the archive and were kept: %s", outcome.apartment,
                  outcome.day, len(outcome.kept), outcome.kept[:5])


def _member_names(hashed: list[HashedFile], members: dict[str, str],
                  archive: Path) -> tuple[dict[Path, str], dict[str, tuple[Path, str]]]:
    """The member each loose file must match (``path -> rel``), and the files to add (``rel -> (path, sha256)``)."""
    targets: dict[Path, str] = {}
    new: dict[str, tuple[Path, str]] = {}
    for rel, path, digest in hashed:
        target = rel
        if rel in members and members[rel] != digest:
            # The archive holds other content under this name: this file is a re-delivery.
            target = redelivery_member(rel, digest)
        if target in new and new[target][1] != digest:  # pragma: no cover - sha256 prefix collision
            raise ArchiveVerificationError(f"two different files would be archived as {target} in {archive}")
        if target not in members:
            new[target] = (path, digest)
        targets[path] = target
    return targets, new


def _remove_archived(loose: dict[Path, str], members: dict[str, str]) -> tuple[int, list[str]]:
    """Remove each loose file whose content (hashed again now) is in the archive under its target name."""
    removed, kept = 0, []
    for path, target in loose.items():
        if members.get(target) == sha256_file(path):
            path.unlink()
            removed += 1
        else:
            kept.append(str(path))
    return removed, kept


def _remove_empty_dirs(folder: Path) -> None:
    for dirpath, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(OSError):  # not empty: keep it
            os.rmdir(dirpath)
