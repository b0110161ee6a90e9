"""Fetch: new or changed forecast files from the sFTP server into Bronze, one SSH session per run.

``download_new_files`` lists the remote folder once (``SFTPHook.get_managed_conn``) and downloads only the
files that are new or changed. "Changed" is decided against the manifest ``silver.weather_file_manifest``
(name, size, modification time, then the sha256 of the content), never against Bronze, so deleting or
compacting Bronze never triggers a new download of the archive. Files land in
``<bronze_root>/weather/YYYY/MM/DD/`` (date from the name); a re-delivery with new content is stored beside
the old one (``Pred_YYYY-MM-DD~<sha12>.csv``), never over it.

Errors: authentication failures, unknown host keys and a missing remote folder raise ``PermanentError``
subclasses (the retry policy fails the task at once); refused, timed-out or reset connections raise
``SftpUnavailableError`` (a ``ConnectionError``), which Airflow retries; the task never sleeps itself.

Takes the hook, the warehouse connection and the folders as arguments (``domotic.weather.tasks`` opens them).
No pandas: the DAG file imports ``tasks``, which imports this module at parse time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from domotic.errors import PermanentError, SourceMissingError
from domotic.maintenance.atomic import discard
from domotic.safe_text import escape_name
from domotic.settings import SFTP_CONN_ID, VARIABLES
from domotic.weather import bronze_day_dir, prediction_date_from_name, read_sql

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- errors


class SftpAuthenticationError(PermanentError):
    """The sFTP server rejected the connection's credentials."""


class SftpHostKeyError(PermanentError):
    """The server's host key is unknown or does not match the pinned key."""


class RemoteDirectoryMissingError(SourceMissingError):
    """The remote forecast folder does not exist."""


class SftpUnavailableError(ConnectionError):
    """Transient: the server refused, timed out or dropped the connection. Airflow retries the task."""


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


# ---------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class RemoteFile:
    """A regular file of the remote folder as listed: name (escaped when not printable: it is stored and
    logged), full path (as the server spells it), size and modification time."""

    name: str
    path: str
    size: int
    mtime: datetime


DEFAULT_MAX_BYTES = int(VARIABLES["weather_max_file_bytes"].default)


@dataclass(frozen=True)
class KnownFile:
    """The current manifest row of a remote name."""

    checksum: str
    size: int
    mtime: datetime
    status: str


@dataclass
class FetchPlan:
    """The listing sorted by what a run does with each file."""

    fetch: list[RemoteFile] = field(default_factory=list)
    unchanged: list[RemoteFile] = field(default_factory=list)
    ignored: list[RemoteFile] = field(default_factory=list)
    later: list[RemoteFile] = field(default_factory=list)
    too_large: list[RemoteFile] = field(default_factory=list)


def plan_fetch(remote: Iterable[RemoteFile], known: dict[str, KnownFile], day: date,
               max_bytes: int = DEFAULT_MAX_BYTES) -> FetchPlan:
    """Which remote files to download: new names, and known names whose size or modification time changed.

    Only the manifest is consulted (never Bronze). Files issued after ``day`` are left to their own run;
    names that are not ``Pred_YYYY-MM-DD.csv`` (the whole name) are ignored, and so are files listed larger
    than ``max_bytes`` (recorded once with the reason, never downloaded).
    """
    plan = FetchPlan()
    for rf in sorted(remote, key=lambda r: r.name):
        issue = prediction_date_from_name(rf.name)
        current = known.get(rf.name)
        seen_as_listed = current is not None and (current.size, current.mtime) == (rf.size, rf.mtime)
        if issue is None:
            if not seen_as_listed:
                plan.ignored.append(rf)
        elif issue > day:
            plan.later.append(rf)
        elif seen_as_listed:
            plan.unchanged.append(rf)
        elif rf.size > max_bytes:
            plan.too_large.append(rf)
        else:
            plan.fetch.append(rf)
    return plan


def read_known(conn: Any) -> dict[str, KnownFile]:
    """The manifest's current row of every remote name seen so far."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT source_name, checksum, remote_size, remote_mtime, status "
            "FROM silver.weather_file_manifest WHERE is_current"
        )
        rows = cur.fetchall()
    conn.commit()
    return {name: KnownFile(checksum, size, mtime, status) for name, checksum, size, mtime, status in rows}


def list_remote(hook: Any, remote_dir: str) -> list[RemoteFile]:
    """Regular files of the remote folder with size and modification time (one SFTP request)."""
    try:
        entries = hook.list_directory_with_attr(remote_dir)
    except UnicodeDecodeError as exc:
        # paramiko decodes every name of the listing as UTF-8 and gives up on the first that is not.
        raise PermanentError(
            f"remote folder {remote_dir!r} holds a file name that is not UTF-8 ({exc.object[:60]!r}); the SFTP "
            "client cannot list the folder until it is renamed or removed on the server"
        ) from exc
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
                name=escape_name(entry.filename),
                path=f"{remote_dir.rstrip('/')}/{entry.filename}",
                size=int(entry.st_size or 0),
                mtime=datetime.fromtimestamp(int(entry.st_mtime or 0), tz=UTC),
            )
        )
    return files


# --------------------------------------------------------------------------------------------- Bronze


class DownloadTooLarge(Exception):
    """A download went past the size cap (the server listed it smaller, or it grew): stopped, not stored."""


class _HashingWriter:
    """File-like target for ``SFTPHook.retrieve_file``: writes to disk and hashes in one pass, up to a cap."""

    def __init__(self, fh: BinaryIO, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise DownloadTooLarge(f"more than {self.max_bytes} bytes")
        self.sha256.update(data)
        return self._fh.write(data)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, hex (the manifest's checksum)."""
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
                discard(tmp)
                return candidate
            continue
        try:
            os.link(tmp, candidate)  # fails if the name appeared meanwhile: never overwrites
        except FileExistsError:
            continue
        tmp.unlink()
        return candidate
    raise PermanentError(f"{name}: no free Bronze name in {day_dir} for content {checksum[:12]}")


# ---------------------------------------------------------------------------------------------- fetch


@dataclass
class FetchReport:
    """What one run did with the listing (the fetch task's XCom summary)."""

    listed: int = 0
    downloaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    touched: list[str] = field(default_factory=list)  # new size/mtime, same content: nothing to reload
    ignored: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    later: int = 0
    incomplete: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "downloaded": self.downloaded,
            "unchanged": self.unchanged,
            "touched": self.touched,
            "ignored": self.ignored,
            "too_large": self.too_large,
            "later": self.later,
            "incomplete": self.incomplete,
        }


def download_new_files(
    hook: Any, conn: Any, day: date, remote_dir: str, bronze_root: Path, conn_id: str = SFTP_CONN_ID,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FetchReport:
    """List ``remote_dir`` once and download what is new or changed and issued up to ``day`` into Bronze.

    ``hook`` is the provider's ``SFTPHook`` of connection ``conn_id`` (named in error messages), ``conn`` the
    warehouse connection holding the manifest; every manifest change is committed file by file. Files over
    ``max_bytes`` (listed so, or found so while downloading) are recorded as ignored, not downloaded.
    """
    known = read_known(conn)
    report = FetchReport()
    with sftp_errors(hook, conn_id), hook.get_managed_conn():  # one SSH session for listing and downloads
        remote = list_remote(hook, remote_dir)
        plan = plan_fetch(remote, known, day, max_bytes)
        report.listed, report.unchanged, report.later = len(remote), len(plan.unchanged), len(plan.later)
        log.info(
            "%s on %s: %d files, %d to download, %d unchanged, %d ignored names, %d too large, %d issued after %s",
            remote_dir,
            hook.remote_host,
            len(remote),
            len(plan.fetch),
            len(plan.unchanged),
            len(plan.ignored),
            len(plan.too_large),
            len(plan.later),
            day,
        )
        for rf in plan.ignored:
            log.warning("ignoring remote file %r: name is not Pred_YYYY-MM-DD.csv", rf.name)
            _record_ignored(conn, rf, "name does not match Pred_YYYY-MM-DD.csv")
            report.ignored.append(rf.name)
        for rf in plan.too_large:
            _record_too_large(conn, rf, f"{rf.size} bytes listed", max_bytes, report)
        for rf in plan.fetch:
            _fetch_one(hook, conn, rf, known.get(rf.name), bronze_root, report, max_bytes)
    return report


def _record_too_large(conn: Any, rf: RemoteFile, found: str, max_bytes: int, report: FetchReport) -> None:
    reason = f"{found}, over the cap weather_max_file_bytes={max_bytes}: not downloaded"
    log.warning("remote file %r: %s", rf.name, reason)
    _record_ignored(conn, rf, reason)
    report.too_large.append(rf.name)


def _record_ignored(conn: Any, rf: RemoteFile, reason: str) -> None:
    """A file that is not downloaded (its name, its size): recorded with its size, mtime and the reason, as what
    the server delivers under that name now."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE silver.weather_file_manifest SET is_current = false "
            "WHERE source_name = %s AND is_current AND checksum <> ''",
            (rf.name,),
        )
        cur.execute(
            read_sql("manifest_record_ignored.sql"),
            {
                "source_name": rf.name,
                "prediction_date": prediction_date_from_name(rf.name),
                "reason": reason,
                "remote_path": escape_name(rf.path),
                "remote_size": rf.size,
                "remote_mtime": rf.mtime,
            },
        )
    conn.commit()


@dataclass(frozen=True)
class _Download:
    """A remote file downloaded under a temporary name in its Bronze day folder, hashed on the way."""

    tmp: Path
    size: int
    checksum: str


def _download_part(hook: Any, rf: RemoteFile, day_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> _Download:
    """Download ``rf`` to ``.<name>.<pid>.part`` in ``day_dir``; nothing is left behind on failure (and the
    failure is the one raised, even when the temporary cannot be removed)."""
    day_dir.mkdir(parents=True, exist_ok=True)
    for stale in day_dir.glob(f".{rf.name}.*.part"):  # left by a worker that died mid-download
        discard(stale)
    tmp = day_dir / f".{rf.name}.{os.getpid()}.part"
    try:
        with tmp.open("wb") as fh:
            writer = _HashingWriter(fh, max_bytes)
            hook.retrieve_file(rf.path, writer)
    except BaseException:
        discard(tmp)
        raise
    return _Download(tmp, writer.size, writer.sha256.hexdigest())


def _fetch_one(
    hook: Any, conn: Any, rf: RemoteFile, current: KnownFile | None, bronze_root: Path, report: FetchReport,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> None:
    """Download one planned file and record what it turned out to be: incomplete (left for the next run), over
    the size cap, the known content under a new size/mtime, or a new version, stored in Bronze."""
    issue = prediction_date_from_name(rf.name)
    assert issue is not None  # plan_fetch only fetches well-named files
    day_dir = bronze_day_dir(bronze_root, issue)
    started = time.monotonic()
    try:
        download = _download_part(hook, rf, day_dir, max_bytes)
    except DownloadTooLarge:
        _record_too_large(conn, rf, f"listed {rf.size} bytes, more than {max_bytes} downloaded", max_bytes, report)
        return
    if download.size != rf.size:
        # Still being written on the server: take it next run rather than loading half a file.
        discard(download.tmp)
        log.warning(
            "%r: listed %d bytes, downloaded %d; still being written? left for the next run",
            rf.name,
            rf.size,
            download.size,
        )
        report.incomplete.append(rf.name)
        return
    params = {
        "source_name": rf.name,
        "checksum": download.checksum,
        "remote_path": escape_name(rf.path),
        "remote_size": rf.size,
        "remote_mtime": rf.mtime,
        "prediction_date": issue,
    }
    if current is not None and current.checksum == download.checksum:
        discard(download.tmp)
        _record_touch(conn, params)
        report.touched.append(rf.name)
        return
    bronze_path = _record_new_version(conn, download, rf.name, day_dir, params)
    log.info(
        "downloaded %r (%d bytes, sha256 %s) to %s in %.1fs%s",
        rf.name,
        download.size,
        download.checksum[:12],
        bronze_path,
        time.monotonic() - started,
        " (re-delivery with new content)" if current else "",
    )
    report.downloaded.append(rf.name)


def _record_touch(conn: Any, params: dict[str, Any]) -> None:
    """Same content under a new size/mtime: the manifest remembers them, nothing is reloaded."""
    with conn.cursor() as cur:
        cur.execute(read_sql("manifest_touch.sql"), params)
    conn.commit()
    log.info(
        "%r: new size/mtime but same content (sha256 %s): nothing to reload",
        params["source_name"],
        params["checksum"][:12],
    )


def _record_new_version(
    conn: Any, download: _Download, name: str, day_dir: Path, params: dict[str, Any]
) -> Path:
    """Store the download in Bronze and make it the name's current manifest row (status 'downloaded')."""
    bronze_path = store_in_bronze(download.tmp, name, download.checksum, day_dir)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE silver.weather_file_manifest SET is_current = false "
            "WHERE source_name = %(source_name)s AND is_current",
            params,
        )
        cur.execute(read_sql("manifest_record_download.sql"), {**params, "bronze_path": str(bronze_path)})
    conn.commit()
    return bronze_path
