"""The Bronze sensor day archive: where a day's archive lives and what it holds. Compaction writes it
(``domotic.maintenance.compaction``); replay reads it (``domotic.sensors.replay``).

A sensor day folder ``<bronze_root>/<apartment>/YYYY/MM/DD/`` is packed into ``DD.tar.gz`` beside it. Its members
are the day's files under their path relative to the day folder (``HH/<name>``), every version (re-deliveries as
``<name>.<sha12>``, the way Bronze stores them), with their modification times. Only regular files with relative
paths are members; anything else makes the archive unreadable (``ArchiveVerificationError``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from domotic.errors import PermanentError
from domotic.maintenance.atomic import atomic_path
from domotic.sensors.names import canonical_name, versioned_name

ARCHIVE_SUFFIX = ".tar.gz"
# Members carry the payloads' api_token, as the loose Bronze files did: owner and group only (as BRONZE_FILE_MODE
# of domotic.sensors.load; docs/decisions.md).
ARCHIVE_MODE = 0o640
GZIP_LEVEL = 6  # JSON compresses ~10x at 6; 9 costs twice the CPU for ~2 % less


class ArchiveVerificationError(PermanentError):
    """A freshly written archive does not hold exactly the files it was written from (nothing was removed)."""


def day_folder(bronze_root: Path, apartment: str, day: date) -> Path:
    return Path(bronze_root) / apartment / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"


def archive_path(bronze_root: Path, apartment: str, day: date) -> Path:
    return Path(bronze_root) / apartment / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}{ARCHIVE_SUFFIX}"


def redelivery_member(rel: str, digest: str) -> str:
    """The member name of a file whose name the archive already holds with other content: ``HH/<name>.<sha12>``."""
    path = PurePosixPath(rel)
    return str(path.parent / versioned_name(canonical_name(path.name), digest))


@dataclass(frozen=True)
class ArchivedFile:
    rel: str  # path relative to the day folder, e.g. "08/14.09.2023 0800_<Handle>_received.json"
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


def write_archive(final: Path, carried: Path | None, new: dict[str, tuple[Path, str]]) -> dict[str, str]:
    """Write ``final`` = members of ``carried`` (an existing archive) + ``new`` (rel -> (path, sha256)).

    Written through a temporary (``atomic_path``) that is verified against the digests of the originals before
    it is renamed into place. Returns the verified ``rel -> sha256`` of the archive. On any error the temporary
    is removed and nothing else has changed.
    """
    with atomic_path(final, mode=ARCHIVE_MODE) as tmp:
        expected = _write_members(tmp, carried, new)
        verify_archive(tmp, expected)
    return expected


def _write_members(target: Path, carried: Path | None, new: dict[str, tuple[Path, str]]) -> dict[str, str]:
    """Write the tar.gz; returns ``rel -> sha256`` of what it holds (each new file hashed again as it is read)."""
    expected: dict[str, str] = {}
    with open(target, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz, \
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
    return expected


def _add(tar: tarfile.TarFile, rel: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(rel)
    info.size, info.mtime, info.mode = len(data), mtime, ARCHIVE_MODE
    tar.addfile(info, io.BytesIO(data))
