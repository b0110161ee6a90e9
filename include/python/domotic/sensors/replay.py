"""Replaying archived Bronze days: the files compaction packed into day archives, loaded into Silver again.

``archived_day_paths`` extracts an archived day to a temporary folder and yields the paths for
``load_bronze_files``; ``replay_archived_day`` loads them generation by generation (first versions, then
re-deliveries in delivery order), which gives exactly the Silver the original loads gave.
``restore_archived_day`` writes the archived files that the manifest has not loaded back to their Bronze paths,
for ``sensors_daily`` to replay a day whose files are no longer on the share. The archive format is
``domotic.maintenance.archive``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from domotic.maintenance.archive import ArchivedFile, archive_path, day_folder, read_archive
from domotic.maintenance.atomic import sha256_file, write_bytes_atomically
from domotic.maintenance.bronze_tree import apartments
from domotic.sensors.load import BRONZE_FILE_MODE, LoadStats, known_checksums, load_bronze_files
from domotic.sensors.names import canonical_name

log = logging.getLogger(__name__)


def replay_generations(paths: Sequence[str]) -> list[list[str]]:
    """Split Bronze paths into load generations (see ``_plan_replay``); each is one ``load_bronze_files`` call."""
    return _plan_replay([(path, os.stat(path).st_mtime, "", path) for path in paths])


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
    archive = _existing_archive(bronze_root, apartment, day)
    with tempfile.TemporaryDirectory(prefix=f"replay-{apartment}-{day:%Y%m%d}-", dir=tmp_root) as tmp:
        extracted = _extract(archive, Path(tmp))
        yield [path for generation in _plan_replay(extracted) for path in generation]


def replay_archived_day(connect: Callable[[], Any], bronze_root: Path, apartment: str, day: date, *,
                        tmp_root: str | os.PathLike[str] | None = None, **load_kwargs: Any) -> LoadStats:
    """Load an archived apartment-day into Silver, generation by generation; returns the merged LoadStats.

    Versions the manifest already holds, and older versions of a name than the newest one it holds, are not
    loaded, so replaying into a warehouse that has seen the day changes nothing. ``load_kwargs`` go to
    ``load_bronze_files`` (``source_tz``, ``batch_files``, ``bounds``).
    """
    archive = _existing_archive(bronze_root, apartment, day)
    total = LoadStats()
    folder = day_folder(bronze_root, apartment, day)
    with tempfile.TemporaryDirectory(prefix=f"replay-{apartment}-{day:%Y%m%d}-", dir=tmp_root) as tmp:
        extracted = _extract(archive, Path(tmp))
        known = _known(connect, [canonical_name(PurePosixPath(rel).name) for rel, _, _, _ in extracted])
        # The manifest records where a file lives in Bronze (its day folder, inside the archive now), not the
        # temporary folder it was read from, which is gone when this returns.
        bronze_paths = {path: str(folder.joinpath(*PurePosixPath(rel).parts)) for rel, _, _, path in extracted}
        for generation in _plan_replay(extracted, known):
            total.merge(load_bronze_files(connect, generation, recorded_path=bronze_paths.__getitem__,
                                          **{"ledger_source": "archive_replay", **load_kwargs}))
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
                # No directory fsync per file: the archive stays the durable copy of what is restored.
                write_bytes_atomically(target, item.data, item.mtime, sync_dir=False, mode=BRONZE_FILE_MODE)
            paths.append(str(target))
    if paths:
        log.info("%s: %d archived files restored to Bronze for replay", day, len(paths))
    return paths


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


def _existing_archive(bronze_root: Path, apartment: str, day: date) -> Path:
    archive = archive_path(bronze_root, apartment, day)
    if not archive.is_file():
        raise FileNotFoundError(f"no Bronze archive for {apartment} {day}: {archive}")
    return archive


def _known(connect: Callable[[], Any] | None, names: Sequence[str]) -> set[tuple[str, str]]:
    if connect is None:
        return set()
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
