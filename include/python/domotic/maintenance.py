"""Maintenance jobs: Bronze compaction (and its replay), VACUUM ANALYZE, warehouse backups, a disk report.

The maintenance DAGs (``dags/maintenance.py``) call the ``run_*`` task bodies; tests call the functions under
them directly. Settings are Airflow Variables read at run time, each with a default kept here (``DEFAULTS``).

**Bronze compaction.** A sensor day folder ``<bronze_root>/<apartment>/YYYY/MM/DD/`` holds 1,440 small files per
apartment (plus re-delivered versions). Once a day is older than the retention it is packed into one
``<bronze_root>/<apartment>/YYYY/MM/DD.tar.gz`` whose members are the day's files under their Bronze paths
relative to the day folder (``HH/<name>``, every version, modification times kept). The order of the steps
is what makes it safe:

1. the archive is written under a temporary name (``.DD.tar.gz.tmp-<pid>``) and fsynced;
2. it is read back and verified: exactly the expected members, each with the sha256 of its original;
3. it is renamed to ``DD.tar.gz`` (atomic) and the directory fsynced;
4. only then each loose file is removed, and only if its sha256 (read again) equals its archive member.

A crash before step 3 leaves the folder untouched (the stale temporary is removed on the next run); a crash
after it leaves a complete archive plus some loose files, which the next run recognises as archived and
removes. A day that has both an archive and loose files that are *not* in it (a late file copied after
compaction, a replay restored from the archive) gets a new archive holding the union; a loose file whose
name is already archived with other content is kept as a re-delivery (``<name>.<sha12>``), as Bronze does.
Re-running does nothing. Days whose newest file is younger than the settle time (ctime) are left for a later
run, so a file copied into an old day is loaded before it can be packed. ``_quarantine/`` is never touched.

Weather forecasts (one CSV a day) are compressed file by file to ``<name>.gz`` with the same write, verify,
rename, remove steps: the weather loader already reads that form, and nothing else changes for it.

**Replay.** ``archived_day_paths`` extracts an archived day to a temporary folder and yields the paths for
``load_bronze_files``; ``replay_archived_day`` loads them generation by generation (first versions, then
re-deliveries in delivery order), which gives exactly the Silver the original loads gave.
``restore_archived_day`` writes the archived files that the manifest has not loaded back to their Bronze paths,
for ``sensors_daily`` to replay a day whose files are no longer on the share.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from domotic.airflow_adapter import setting
from domotic.errors import ConfigurationError, PermanentError
from domotic.paths import SQL_DIR
from domotic.sensors.load import QUARANTINE_DIR
from domotic.sensors.names import canonical_name, versioned_name
from domotic.settings import POSTGRES_CONN_ID

log = logging.getLogger(__name__)

# Variable keys of the maintenance jobs and their defaults (overridable as AIRFLOW_VAR_<KEY>).

WEATHER_DIR = "weather"
ARCHIVE_SUFFIX = ".tar.gz"
GZIP_LEVEL = 6  # JSON compresses ~10x at 6; 9 costs twice the CPU for ~2 % less
BACKUP_NAME_RE = re.compile(r"^domotic_(\d{8})\.dump$")
_TMP_MARK = ".tmp-"
_BUFSIZE = 1 << 20


def maintenance_setting(key: str) -> str:
    """The Variable's value as text (domotic.settings.VARIABLES). Call only at task run time."""
    return str(setting(key))


class ArchiveVerificationError(PermanentError):
    """A freshly written archive does not hold exactly the files it was written from (nothing was removed)."""


class CompactionIncompleteError(PermanentError):
    """Some days could not be compacted (files never loaded, or not matching the archive); nothing was lost."""


class BackupError(PermanentError):
    """pg_dump is missing or failed; the message carries its exit code and error output."""


class DiskSpaceLowError(PermanentError):
    """Free space under the configured minimum (retrying cannot free space: fail at once and alert)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_BUFSIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{_TMP_MARK}{os.getpid()}")


def _write_file_atomically(target: Path, data: bytes, mtime: float) -> None:
    tmp = _tmp_name(target)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _is_tmp(name: str) -> bool:
    # Our temporaries (.<name>.tmp-<pid>) and sensor_load's half-written copies (.<name>.tmp).
    return name.startswith(".") and (_TMP_MARK in name or name.endswith(".tmp"))


# ============================================================================================ Bronze: layout


def archive_path(bronze_root: Path, apartment: str, day: date) -> Path:
    return Path(bronze_root) / apartment / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}{ARCHIVE_SUFFIX}"


def day_folder(bronze_root: Path, apartment: str, day: date) -> Path:
    return Path(bronze_root) / apartment / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"


def apartments(bronze_root: Path) -> list[str]:
    """Apartment folders of Bronze (everything but ``weather``, ``_quarantine`` and hidden/underscore names)."""
    root = Path(bronze_root)
    if not root.is_dir():
        return []
    return sorted(
        entry.name for entry in os.scandir(root)
        if entry.is_dir(follow_symlinks=False) and entry.name != WEATHER_DIR
        and not entry.name.startswith(("_", ".")) and entry.name != QUARANTINE_DIR
    )


def _month_dirs(top: Path) -> Iterator[tuple[int, int, Path]]:
    """``top/YYYY/MM`` folders, sorted."""
    if not top.is_dir():
        return
    for year in sorted(os.listdir(top)):
        if not (len(year) == 4 and year.isdigit()) or not (top / year).is_dir():
            continue
        for month in sorted(os.listdir(top / year)):
            if len(month) == 2 and month.isdigit() and (top / year / month).is_dir():
                yield int(year), int(month), top / year / month


def _day_of(year: int, month: int, name: str) -> date | None:
    if len(name) != 2 or not name.isdigit():
        return None
    try:
        return date(year, month, int(name))
    except ValueError:
        return None


# ============================================================================================ Bronze: archives


@dataclass(frozen=True)
class ArchivedFile:
    rel: str  # path relative to the day folder, e.g. "08/14.09.2023 0800_JimmyLoup_received.json"
    data: bytes
    mtime: float
    digest: str


def _safe_member(member: tarfile.TarInfo, archive: Path) -> str:
    rel = PurePosixPath(member.name)
    if not member.isreg() or rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ArchiveVerificationError(f"{archive}: unexpected member {member.name!r} (only day-relative files)")
    return str(rel)


def read_archive(archive: Path) -> Iterator[ArchivedFile]:
    """The members of a day archive with their content and sha256, in archive order."""
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            rel = _safe_member(member, archive)
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            yield ArchivedFile(rel, data, float(member.mtime), hashlib.sha256(data).hexdigest())


def archive_digests(archive: Path) -> dict[str, str]:
    """``rel -> sha256`` of every member; raises ArchiveVerificationError on a duplicate member name."""
    digests: dict[str, str] = {}
    for item in read_archive(archive):
        if item.rel in digests:
            raise ArchiveVerificationError(f"{archive}: member {item.rel!r} appears twice")
        digests[item.rel] = item.digest
    return digests


def verify_archive(archive: Path, expected: dict[str, str]) -> None:
    """Exactly the expected members (count and names), each with the expected sha256."""
    found = archive_digests(archive)
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(rel for rel in set(found) & set(expected) if found[rel] != expected[rel])
        raise ArchiveVerificationError(
            f"{archive}: {len(found)} members, expected {len(expected)}; missing {missing[:5]}, "
            f"unexpected {extra[:5]}, different content {wrong[:5]}")


def _add(tar: tarfile.TarFile, rel: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(rel)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_archive(final: Path, carried: Path | None, new: dict[str, tuple[Path, str]]) -> dict[str, str]:
    """Write ``final`` = members of ``carried`` (an existing archive) + ``new`` (rel -> (path, sha256)).

    Written to a temporary name, fsynced, verified against the digests of the originals, then renamed into
    place. Returns the verified ``rel -> sha256`` of the archive. On any error the temporary is removed and
    nothing else has changed.
    """
    tmp = _tmp_name(final)
    expected: dict[str, str] = {}
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz, \
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                if carried is not None:
                    for item in read_archive(carried):
                        _add(tar, item.rel, item.data, item.mtime)
                        expected[item.rel] = item.digest
                for rel in sorted(new):
                    path, digest = new[rel]
                    data = path.read_bytes()
                    if hashlib.sha256(data).hexdigest() != digest:
                        raise ArchiveVerificationError(f"{path} changed while it was being archived")
                    _add(tar, rel, data, path.stat().st_mtime)
                    expected[rel] = digest
            raw.flush()
            os.fsync(raw.fileno())
        verify_archive(tmp, expected)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)
    return expected


# ============================================================================================ Bronze: compaction


@dataclass
class DayOutcome:
    apartment: str
    day: str
    action: str  # archived | merged | cleaned | unsettled | empty
    files_archived: int = 0  # files added to the archive by this run
    files_removed: int = 0  # loose files removed (each verified against the archive)
    kept: list[str] = field(default_factory=list)  # loose files that could not be matched (left in place)
    unloaded: list[str] = field(default_factory=list)  # files Silver never recorded (the day is left as is)
    archive: str | None = None
    archive_bytes: int = 0


KnownContent = Callable[[list[str]], set[tuple[str, str]]]


@dataclass
class CompactionReport:
    cutoff: str = ""
    disabled: bool = False
    days: list[DayOutcome] = field(default_factory=list)
    stale_tmp_removed: int = 0
    weather_files_compressed: int = 0
    weather_originals_removed: int = 0
    weather_unsettled: int = 0

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
            "weather_files_compressed": self.weather_files_compressed,
            "weather_originals_removed": self.weather_originals_removed,
            "weather_unsettled": self.weather_unsettled,
        }


def _loose_files(folder: Path) -> tuple[list[tuple[str, Path]], list[Path]]:
    """(rel, path) of the files under a day folder, and the temporaries (half-written copies)."""
    files: list[tuple[str, Path]] = []
    temporaries: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            if _is_tmp(name):
                temporaries.append(path)
            else:
                files.append((path.relative_to(folder).as_posix(), path))
    return files, temporaries


def _remove_empty_dirs(folder: Path) -> None:
    for dirpath, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(OSError):  # not empty: keep it
            os.rmdir(dirpath)


def _settled(paths: Sequence[Path], now: float, settle_seconds: float) -> bool:
    return all(now - path.stat().st_ctime >= settle_seconds for path in paths)


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


def manifest_lookup(connect: Callable[[], Any]) -> KnownContent:
    """``names -> {(source name, sha256)}`` already in ``silver.file_manifest`` (loaded or quarantined)."""
    from domotic.sensors.load import known_checksums

    def known(names: list[str]) -> set[tuple[str, str]]:
        conn = connect()
        try:
            return known_checksums(conn, names)
        finally:
            conn.close()

    return known


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
    if known is not None and hashed:
        loaded = known(sorted({canonical_name(path.name) for _, path, _ in hashed}))
        unloaded = [str(path) for _, path, digest in hashed if (canonical_name(path.name), digest) not in loaded]
        if unloaded:
            outcome.action, outcome.unloaded = "unloaded", unloaded
            log.error("%s %s: %d files are not in silver.file_manifest (never loaded): day left as it is; "
                      "re-run sensors_daily for %s. First ones: %s", apartment, day, len(unloaded), day,
                      unloaded[:5])
            return outcome
    members = archive_digests(archive) if archive.exists() else {}
    targets: dict[Path, str] = {}  # loose path -> member name it must match
    new: dict[str, tuple[Path, str]] = {}
    for rel, path, digest in hashed:
        target = rel
        if rel in members and members[rel] != digest:
            # The archive holds other content under this name: this file is a re-delivery.
            parent = PurePosixPath(rel).parent
            target = str(parent / versioned_name(canonical_name(PurePosixPath(rel).name), digest))
        if target in new and new[target][1] != digest:  # pragma: no cover - sha256 prefix collision
            raise ArchiveVerificationError(f"two different files would be archived as {target} in {archive}")
        if target not in members:
            new[target] = (path, digest)
        targets[path] = target
    if new:
        outcome.action = "merged" if members else "archived"
        members = write_archive(archive, archive if members else None, new)
        outcome.files_archived = len(new)
        log.info("%s %s: %d files archived into %s (%d members)", apartment, day, len(new), archive,
                 len(members))
    elif files:
        outcome.action = "cleaned"  # a previous run archived them and stopped before removing them
    if files:
        outcome.files_removed, outcome.kept = _remove_archived(targets, members)
        if outcome.kept:
            log.error("%s %s: %d loose files do not match the archive and were kept: %s", apartment, day,
                      len(outcome.kept), outcome.kept[:5])
    _remove_empty_dirs(folder)
    if archive.exists():
        outcome.archive_bytes = archive.stat().st_size
    return outcome


def _cutoff(today: date, retention_days: int) -> date | None:
    """Days strictly before the cutoff are compacted; None when compaction is disabled."""
    if retention_days < 0:
        return None
    if retention_days == 0:
        raise ConfigurationError(
            "bronze_retention_days must be >= 1 (or negative to disable compaction): the current day and the "
            "day sensors_daily is still loading are never compacted")
    return today - timedelta(days=retention_days)


def compact_sensor_days(bronze_root: Path, *, today: date, retention_days: int, settle_hours: float = 24.0,
                        now: float | None = None, known: KnownContent | None = None) -> CompactionReport:
    """Compact every apartment-day of Bronze older than ``today - retention_days`` (UTC days).

    ``known``: see ``compact_day`` (the DAG always passes the manifest lookup).
    """
    report = CompactionReport()
    cutoff = _cutoff(today, retention_days)
    if cutoff is None:
        report.disabled = True
        log.info("Bronze compaction disabled (bronze_retention_days < 0)")
        return report
    report.cutoff = cutoff.isoformat()
    now = time.time() if now is None else now
    for apartment in apartments(bronze_root):
        for year, month, month_dir in _month_dirs(Path(bronze_root) / apartment):
            for name in sorted(os.listdir(month_dir)):
                path = month_dir / name
                if _is_tmp(name):
                    # An archive whose writer died before the rename: incomplete by construction.
                    if now - path.stat().st_mtime > 3600:
                        log.warning("Removing stale temporary archive %s", path)
                        path.unlink()
                        report.stale_tmp_removed += 1
                    continue
                day = _day_of(year, month, name)
                if day is None or day >= cutoff or not path.is_dir():
                    continue
                report.days.append(compact_day(path, apartment, day, now=now,
                                               settle_seconds=settle_hours * 3600, known=known))
    return report


# ============================================================================================ weather


def _gunzip_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_BUFSIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def compress_file(path: Path) -> Path:
    """Replace ``path`` by a verified ``path.gz`` (tmp + fsync + verify + rename, then remove the original)."""
    final = path.with_name(path.name + ".gz")
    digest = sha256_file(path)
    with contextlib.suppress(OSError, EOFError, gzip.BadGzipFile):
        if final.exists() and _gunzip_digest(final) == digest:  # done before; the removal did not happen
            path.unlink()
            return final
    tmp = _tmp_name(final)
    try:
        with open(path, "rb") as source, open(tmp, "wb") as raw:
            with gzip.GzipFile(filename=path.name, fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL,
                               mtime=int(path.stat().st_mtime)) as gz:
                shutil.copyfileobj(source, gz, _BUFSIZE)
            raw.flush()
            os.fsync(raw.fileno())
        if _gunzip_digest(tmp) != digest:
            raise ArchiveVerificationError(f"{tmp}: compressed copy of {path} does not decompress to it")
        stat = path.stat()
        os.utime(tmp, (stat.st_atime, stat.st_mtime))
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)
    path.unlink()
    return final


def compress_weather_files(bronze_root: Path, *, today: date, retention_days: int, settle_hours: float = 24.0,
                           now: float | None = None, report: CompactionReport | None = None) -> CompactionReport:
    """gzip each weather CSV of the days older than the retention to ``<name>.gz`` (the loader reads both)."""
    report = report or CompactionReport()
    cutoff = _cutoff(today, retention_days)
    if cutoff is None:
        report.disabled = True
        return report
    report.cutoff = cutoff.isoformat()
    now = time.time() if now is None else now
    for year, month, month_dir in _month_dirs(Path(bronze_root) / WEATHER_DIR):
        for name in sorted(os.listdir(month_dir)):
            day = _day_of(year, month, name)
            if day is None or day >= cutoff or not (month_dir / name).is_dir():
                continue
            for entry in sorted(os.scandir(month_dir / name), key=lambda e: e.name):
                path = Path(entry.path)
                if not entry.is_file(follow_symlinks=False) or entry.name.endswith(".gz"):
                    continue
                if _is_tmp(entry.name):
                    if now - entry.stat().st_mtime > 3600:
                        path.unlink()
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


# ============================================================================================ replay


def _plan_replay(entries: Sequence[tuple[str, float, str, Any]],
                 known: set[tuple[str, str]] | None = None) -> list[list[Any]]:
    """Load generations for re-delivered files: generation k holds the k-th version of every source name.

    ``entries`` are ``(key, mtime, sha256, payload)`` with ``key`` = ``<folder>/<Bronze file name>``. A name's
    first version is the one under the plain source name (Bronze keeps it there); later versions
    (``<name>.<sha12>``) follow in delivery order (modification time, which every copy keeps). Versions up to
    the newest one ``known`` holds (``(source name, sha256)`` pairs of the manifest) are left out: loading an
    older version after a newer one would make the older one current again.
    """
    chains: dict[str, list[tuple[int, float, str, str, str, Any]]] = {}
    for key, mtime, digest, payload in entries:
        path = PurePosixPath(key)
        source = canonical_name(path.name)
        chains.setdefault(str(path.parent / source), []).append(
            (0 if source == path.name else 1, mtime, key, source, digest, payload))
    generations: list[list[tuple[str, Any]]] = []
    for chain_key in sorted(chains):
        chain = sorted(chains[chain_key], key=lambda version: version[:3])
        if known:
            newest = max((i for i, v in enumerate(chain) if (v[3], v[4]) in known), default=-1)
            chain = chain[newest + 1:]
        for rank, (_, _, key, _, _, payload) in enumerate(chain):
            if rank == len(generations):
                generations.append([])
            generations[rank].append((key, payload))
    return [[payload for _, payload in sorted(generation, key=lambda kp: kp[0])] for generation in generations]


def replay_generations(paths: Sequence[str]) -> list[list[str]]:
    """Split Bronze paths into load generations (see ``_plan_replay``); each is one ``load_bronze_files`` call."""
    return _plan_replay([(path, os.stat(path).st_mtime, "", path) for path in paths])


def _known(connect: Callable[[], Any] | None, names: Sequence[str]) -> set[tuple[str, str]]:
    if connect is None:
        return set()
    from domotic.sensors.load import known_checksums

    conn = connect()
    try:
        return known_checksums(conn, sorted(set(names)))
    finally:
        conn.close()


def _extract(archive: Path, folder: Path) -> list[tuple[str, float, str, str]]:
    """Write every member under ``folder`` with its mtime; ``(rel, mtime, sha256, path)`` per member."""
    extracted = []
    for item in read_archive(archive):
        target = folder.joinpath(*PurePosixPath(item.rel).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data)
        os.utime(target, (item.mtime, item.mtime))
        extracted.append((item.rel, item.mtime, item.digest, str(target)))
    return extracted


@contextlib.contextmanager
def archived_day_paths(bronze_root: Path, apartment: str, day: date,
                       tmp_root: str | os.PathLike[str] | None = None) -> Iterator[list[str]]:
    """Extract the archive of one apartment-day to a temporary folder and yield its files' paths.

    The files keep their Bronze names (``load_bronze_files`` takes the source name from them) and their
    modification times. Paths come in replay order: first versions, then re-deliveries. Pass each generation
    of ``replay_generations(paths)`` to its own ``load_bronze_files`` call to record every version in the
    manifest exactly as the original loads did (one call keeps only the last version of a name per batch),
    or use ``replay_archived_day``. The folder is removed when the ``with`` block ends.
    """
    archive = archive_path(bronze_root, apartment, day)
    if not archive.is_file():
        raise FileNotFoundError(f"no Bronze archive for {apartment} {day}: {archive}")
    with tempfile.TemporaryDirectory(prefix=f"replay-{apartment}-{day:%Y%m%d}-", dir=tmp_root) as tmp:
        extracted = _extract(archive, Path(tmp))
        yield [path for generation in _plan_replay(extracted) for path in generation]


def replay_archived_day(connect: Callable[[], Any], bronze_root: Path, apartment: str, day: date, *,
                        tmp_root: str | os.PathLike[str] | None = None, **load_kwargs: Any) -> Any:
    """Load an archived apartment-day into Silver, generation by generation; returns the merged LoadStats.

    Versions the manifest already holds, and older versions of a name than the newest one it holds, are not
    loaded, so replaying into a warehouse that has seen the day changes nothing. ``load_kwargs`` go to
    ``load_bronze_files`` (``source_tz``, ``batch_files``, ``bounds``).
    """
    from domotic.sensors.load import LoadStats, load_bronze_files

    archive = archive_path(bronze_root, apartment, day)
    if not archive.is_file():
        raise FileNotFoundError(f"no Bronze archive for {apartment} {day}: {archive}")
    total = LoadStats()
    with tempfile.TemporaryDirectory(prefix=f"replay-{apartment}-{day:%Y%m%d}-", dir=tmp_root) as tmp:
        extracted = _extract(archive, Path(tmp))
        known = _known(connect, [canonical_name(PurePosixPath(rel).name) for rel, _, _, _ in extracted])
        for generation in _plan_replay(extracted, known):
            total.merge(load_bronze_files(connect, generation, **{"ledger_source": "archive_replay", **load_kwargs}))
    return total


def restore_archived_day(bronze_root: Path, day: date, connect: Callable[[], Any] | None = None) -> list[str]:
    """Put back into Bronze the archived files of a UTC day whose content the manifest has not loaded.

    For ``sensors_daily`` replaying a day that is no longer on the share: the files are written (atomically,
    with their modification times) to their original Bronze paths, beside the archive, and their paths are
    returned in replay order for ``load_bronze_files``. Files the manifest holds, and versions older than the
    newest one it holds, are not restored, so re-running an ordinary day restores nothing. The next
    compaction finds the restored files in the archive and removes them again. ``connect=None`` restores every
    archived file of the day.
    """
    planned: list[tuple[str, float, str, tuple[Path, ArchivedFile]]] = []
    for apartment in apartments(bronze_root):
        archive = archive_path(bronze_root, apartment, day)
        if not archive.is_file():
            continue
        folder = day_folder(bronze_root, apartment, day)
        for item in read_archive(archive):
            planned.append((f"{apartment}/{item.rel}", item.mtime, item.digest,
                            (folder.joinpath(*PurePosixPath(item.rel).parts), item)))
    known = _known(connect, [canonical_name(PurePosixPath(key).name) for key, _, _, _ in planned])
    paths: list[str] = []
    for generation in _plan_replay(planned, known):
        for target, item in generation:
            if not (target.is_file() and sha256_file(target) == item.digest):
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_file_atomically(target, item.data, item.mtime)
            paths.append(str(target))
    if paths:
        log.info("%s: %d archived files restored to Bronze for replay", day, len(paths))
    return paths


# ============================================================================================ VACUUM


def big_tables(conn: Any) -> list[str]:
    """Quoted ``schema.table`` names of the big tables that exist, largest first."""
    with conn.cursor() as cur:
        cur.execute((SQL_DIR / "maintenance" / "big_tables.sql").read_text())
        return [row[0] for row in cur.fetchall()]


# ============================================================================================ backups


def backup_name(day: date) -> str:
    return f"domotic_{day:%Y%m%d}.dump"


def _find_executable(name: str, what: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{what} executable {name!r} not found on PATH: install the PostgreSQL client "
                          "(postgresql-client, same major version as the server) or set Variable pg_dump_bin")
    return found


def pg_command_env(conn_id: str = POSTGRES_CONN_ID) -> tuple[list[str], dict[str, str]]:
    """libpq arguments and environment for a PostgreSQL client, from the Airflow Connection.

    The password goes into ``PGPASSWORD`` only, never onto the command line (visible in the process list:
    legacy-system.md §8 item 37). ``-w`` makes the client fail instead of prompting.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id)
    conn = hook.connection
    dbname = hook.database or conn.schema
    if not dbname:
        raise ConfigurationError(f"connection {conn_id} names no database (its 'schema' field)")
    args = ["-w", "-d", dbname]
    if conn.host:
        args += ["-h", conn.host]
    if conn.port:
        args += ["-p", str(conn.port)]
    if conn.login:
        args += ["-U", conn.login]
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)  # the Connection is the only source of the password
    if conn.password:
        env["PGPASSWORD"] = conn.password
    extras = conn.extra_dejson
    for key, var in (("sslmode", "PGSSLMODE"), ("sslcert", "PGSSLCERT"), ("sslkey", "PGSSLKEY"),
                     ("sslrootcert", "PGSSLROOTCERT"), ("connect_timeout", "PGCONNECT_TIMEOUT")):
        if extras.get(key) not in (None, ""):
            env[var] = str(extras[key])
    return args, env


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def dump_warehouse(backup_dir: Path, day: date, *, conn_id: str = POSTGRES_CONN_ID,
                   pg_dump_bin: str = "pg_dump", timeout_seconds: float = 6 * 3600) -> dict[str, Any]:
    """``pg_dump -Fc`` of the warehouse into ``backup_dir/domotic_YYYYMMDD.dump`` (tmp + verify + rename).

    The dump is checked with ``pg_restore --list`` before it replaces an earlier dump of the same day.
    """
    pg_dump = _find_executable(pg_dump_bin, "pg_dump")
    pg_restore = shutil.which("pg_restore", path=str(Path(pg_dump).parent)) or shutil.which("pg_restore")
    backup_dir = Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    final = backup_dir / backup_name(day)
    tmp = _tmp_name(final)
    args, env = pg_command_env(conn_id)
    started = time.monotonic()
    try:
        proc = subprocess.run([pg_dump, "-Fc", "-f", str(tmp), *args], env=env, capture_output=True, text=True,
                              timeout=timeout_seconds, check=False)
        if proc.returncode != 0:
            raise BackupError(f"pg_dump of connection {conn_id} failed with exit code {proc.returncode}:\n"
                              f"{_tail(proc.stderr)}")
        if pg_restore:
            check = subprocess.run([pg_restore, "--list", str(tmp)], capture_output=True, text=True, check=False)
            if check.returncode != 0 or not check.stdout.strip():
                raise BackupError(f"the dump {tmp} is unreadable (pg_restore --list exit {check.returncode}):\n"
                                  f"{_tail(check.stderr)}")
        else:
            log.warning("pg_restore not found: the dump was not test-read")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(backup_dir)
    result = {"path": str(final), "size_bytes": final.stat().st_size,
              "seconds": round(time.monotonic() - started, 2)}
    log.info("Backup written: %s (%s in %.1f s)", final, human_bytes(result["size_bytes"]), result["seconds"])
    return result


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
    deleted: list[str] = []
    for entry in os.scandir(backup_dir):
        match = BACKUP_NAME_RE.match(entry.name)
        if match:
            with contextlib.suppress(ValueError):
                dated.append((datetime.strptime(match.group(1), "%Y%m%d").date(), Path(entry.path)))
        elif entry.name.startswith(".domotic_") and _TMP_MARK in entry.name and now - entry.stat().st_mtime > 86400:
            os.unlink(entry.path)
            deleted.append(entry.path)
    dated.sort()
    for dump_day, path in dated[:-1]:  # never the newest
        if dump_day < cutoff:
            path.unlink()
            deleted.append(str(path))
    if deleted:
        log.info("Backup retention (%d days): deleted %s", retention_days, deleted)
    return deleted


# ============================================================================================ disk report


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


@dataclass
class TreeUsage:
    loose_files: int = 0
    loose_bytes: int = 0
    archive_files: int = 0
    archive_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.loose_bytes + self.archive_bytes


def _tree_usage(folder: Path, is_archive: Callable[[str], bool]) -> TreeUsage:
    usage = TreeUsage()
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                if is_archive(entry.name):
                    usage.archive_files += 1
                    usage.archive_bytes += size
                else:
                    usage.loose_files += 1
                    usage.loose_bytes += size
    return usage


def bronze_usage(bronze_root: Path) -> dict[str, dict[str, int]]:
    """Per top-level Bronze folder (each apartment, ``weather``, ``_quarantine``): loose files vs archives."""
    root = Path(bronze_root)
    result: dict[str, dict[str, int]] = {}
    if not root.is_dir():
        return result
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name == WEATHER_DIR:
            usage = _tree_usage(Path(entry.path), lambda name: name.endswith(".gz"))
        else:
            usage = _tree_usage(Path(entry.path), lambda name: name.endswith(ARCHIVE_SUFFIX))
        result[entry.name] = {**asdict(usage), "total_bytes": usage.total_bytes}
    return result


def largest_tables(conn: Any, limit: int = 10) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute((SQL_DIR / "maintenance" / "largest_tables.sql").read_text(), {"limit": limit})
        columns = [c.name for c in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _free(path: Path) -> dict[str, int | str]:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {"path": str(path), "total_bytes": usage.total, "used_bytes": usage.used, "free_bytes": usage.free}


def disk_report(bronze_root: Path, backup_dir: Path, now: datetime, connect: Callable[[], Any] | None = None,
                top_tables: int = 10) -> dict[str, Any]:
    """Sizes of Bronze (per apartment, weather; archives vs loose files), backups and the largest tables."""
    bronze = bronze_usage(bronze_root)
    backups = _tree_usage(Path(backup_dir), lambda name: bool(BACKUP_NAME_RE.match(name)))
    report: dict[str, Any] = {
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "bronze": bronze,
        "bronze_total_bytes": sum(item["total_bytes"] for item in bronze.values()),
        "backups": {"dumps": backups.archive_files, "dump_bytes": backups.archive_bytes,
                    "other_files": backups.loose_files, "other_bytes": backups.loose_bytes},
        "filesystems": {"bronze": _free(bronze_root), "backups": _free(backup_dir)},
    }
    if connect is not None:
        conn = connect()
        try:
            report["largest_tables"] = largest_tables(conn, top_tables)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_database_size(current_database())")
                report["database_bytes"] = cur.fetchone()[0]
        finally:
            conn.close()
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = ["Bronze:"]
    for name, usage in report["bronze"].items():
        lines.append(f"  {name:<12} {human_bytes(usage['total_bytes']):>11}  loose {usage['loose_files']} files "
                     f"{human_bytes(usage['loose_bytes'])}, archives {usage['archive_files']} "
                     f"{human_bytes(usage['archive_bytes'])}")
    backups = report["backups"]
    lines.append(f"Backups: {backups['dumps']} dumps, {human_bytes(backups['dump_bytes'])}")
    for name, fs in report["filesystems"].items():
        lines.append(f"Filesystem of {name} ({fs['path']}): {human_bytes(fs['free_bytes'])} free of "
                     f"{human_bytes(fs['total_bytes'])}")
    if "largest_tables" in report:
        lines.append(f"Warehouse: {human_bytes(report['database_bytes'])}; largest tables:")
        for table in report["largest_tables"]:
            lines.append(f"  {table['table_name']:<40} {human_bytes(table['total_bytes']):>11}  "
                         f"(~{table['estimated_rows']} rows)")
    return "\n".join(lines)


def check_free_space(report: dict[str, Any], min_free_gb: float) -> dict[str, Any]:
    """Raise DiskSpaceLowError (an alert) when the Bronze filesystem has less than ``min_free_gb`` free."""
    fs = report["filesystems"]["bronze"]
    free_gb = fs["free_bytes"] / 1024**3
    if free_gb < min_free_gb:
        message = (f"Bronze filesystem {fs['path']} has {free_gb:.2f} GiB free, below disk_free_min_gb="
                   f"{min_free_gb:g} (Bronze {human_bytes(report['bronze_total_bytes'])}, backups "
                   f"{human_bytes(report['backups']['dump_bytes'])}): lower bronze_retention_days or "
                   "backup_retention_days, or add space")
        log.warning("DISK SPACE LOW: %s", message)
        raise DiskSpaceLowError(message)
    return {"bronze_free_gb": round(free_gb, 2), "min_free_gb": min_free_gb}


# ============================================================================================ task bodies


def _run_day(logical_date: datetime | None, now: datetime) -> date:
    """The run's UTC date, never later than the current day (``now``: the clock the task was given)."""
    today = now.astimezone(UTC).date()
    if logical_date is None:
        return today
    return min(logical_date.astimezone(UTC).date(), today)


def _bronze_root() -> Path:
    return Path(setting("domotic_bronze_root"))


def _int_setting(key: str) -> int:
    raw = maintenance_setting(key)
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"Variable {key} must be an integer, got {raw!r}") from None


def _float_setting(key: str) -> float:
    raw = maintenance_setting(key)
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"Variable {key} must be a number, got {raw!r}") from None


def _compaction_args(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    return {"today": _run_day(logical_date, now), "now": now.timestamp(),
            "retention_days": _int_setting("bronze_retention_days"),
            "settle_hours": _float_setting("bronze_compaction_settle_hours")}


def run_compact_sensor_days(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    from domotic.airflow_adapter import warehouse_connection

    report = compact_sensor_days(_bronze_root(), known=manifest_lookup(warehouse_connection),
                                 **_compaction_args(logical_date, now))
    summary = report.summary()
    log.info("Bronze compaction: %s", summary)
    if summary["unloaded_days"]:
        raise CompactionIncompleteError(
            f"Bronze days older than the retention hold files Silver never loaded: {summary['unloaded_days']}; "
            "they were left uncompacted. Re-run sensors_daily for those days (see the log for the files).")
    if summary["files_kept"]:
        raise CompactionIncompleteError(
            f"{summary['files_kept']} loose Bronze files did not match their day archive and were kept; see the "
            "log (nothing was lost)")
    return summary


def run_compress_weather(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    report = compress_weather_files(_bronze_root(), **_compaction_args(logical_date, now))
    summary = {key: value for key, value in report.summary().items()
               if key.startswith("weather") or key in ("cutoff", "disabled", "stale_tmp_removed")}
    log.info("Weather compression: %s", summary)
    return summary


def run_list_big_tables() -> list[str]:
    from domotic.airflow_adapter import warehouse_connection

    conn = warehouse_connection()
    try:
        tables = big_tables(conn)
    finally:
        conn.close()
    log.info("Tables to VACUUM ANALYZE: %s", tables)
    return tables


def run_backup(logical_date: datetime | None, now: datetime) -> dict[str, Any]:
    return dump_warehouse(Path(maintenance_setting("backup_dir")), _run_day(logical_date, now),
                          pg_dump_bin=maintenance_setting("pg_dump_bin"))


def run_prune_backups(logical_date: datetime | None, now: datetime) -> list[str]:
    return prune_backups(Path(maintenance_setting("backup_dir")), _run_day(logical_date, now),
                         _int_setting("backup_retention_days"), now=now.timestamp())


def run_disk_report(now: datetime) -> dict[str, Any]:
    from domotic.airflow_adapter import warehouse_connection

    report = disk_report(_bronze_root(), Path(maintenance_setting("backup_dir")), now, warehouse_connection)
    log.info("Disk usage report\n%s", format_report(report))
    return report


def run_check_free_space(report: dict[str, Any]) -> dict[str, Any]:
    return check_free_space(report, _float_setting("disk_free_min_gb"))
