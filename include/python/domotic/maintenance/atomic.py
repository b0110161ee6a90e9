"""Files that appear complete or not at all: written under a temporary name beside the target, fsynced, renamed.

Every maintenance writer goes through ``atomic_path``: the day archives, the gzipped weather files, the Bronze
files restored for a replay and the ``pg_dump`` backups. The temporary is ``.<name>.tmp-<pid>`` in the target's
folder (same filesystem, so the rename is atomic). A crash leaves at most that temporary, never a partial file
under the real name; ``is_tmp`` recognises it and ``remove_if_stale`` clears it once its writer is surely gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

TMP_MARK = ".tmp-"
# A writer fsyncs and renames its temporary well within this; an older one was left by a writer that died.
STALE_TMP_SECONDS = 3600
_BUFSIZE = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_BUFSIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry, not only the file, must reach the disk)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(final: Path) -> Path:
    """``.<name>.tmp-<pid>`` beside ``final``: hidden, and unique per writing process."""
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}")


def is_tmp(name: str) -> bool:
    # Our temporaries (.<name>.tmp-<pid>) and sensor_load's half-written copies (.<name>.tmp).
    return name.startswith(".") and (TMP_MARK in name or name.endswith(".tmp"))


def remove_if_stale(path: Path, now: float) -> bool:
    """Remove a temporary (``is_tmp``) older than ``STALE_TMP_SECONDS``: its writer died, so it is incomplete."""
    if now - path.stat().st_mtime <= STALE_TMP_SECONDS:
        return False
    log.warning("Removing stale temporary %s", path)
    path.unlink()
    return True


def discard(path: Path) -> None:
    """Remove a temporary on the way out of a failure, without ever replacing that failure: a cleanup that
    cannot remove it (a read-only or vanished filesystem) logs why and leaves it (``remove_if_stale`` and the
    maintenance runs clear it later)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("Could not remove the temporary %r (%s); the error before it is the one raised", str(path),
                    exc.strerror or exc)


@contextlib.contextmanager
def atomic_path(final: Path, *, sync_dir: bool = True, mode: int | None = None) -> Iterator[Path]:
    """Yield the temporary to write ``final`` through; when the block ends normally, put it in place.

    The block writes the temporary (by any means: a handle, a subprocess) and verifies it. On a normal exit the
    temporary gets ``mode`` (when given), is fsynced and renamed over ``final``, then (``sync_dir``) the folder
    is fsynced so the rename survives a power cut. If the block or the rename raises, the temporary is removed
    (``discard``: the block's error is the one that propagates) and ``final`` is as it was.
    """
    tmp = tmp_name(final)
    try:
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        discard(tmp)
        raise
    if sync_dir:
        fsync_dir(final.parent)


def write_bytes_atomically(target: Path, data: bytes, mtime: float, *, sync_dir: bool = True,
                           mode: int | None = None) -> None:
    """``target`` holds ``data`` with modification time ``mtime``, all at once (see ``atomic_path``)."""
    with atomic_path(target, sync_dir=sync_dir, mode=mode) as tmp:
        tmp.write_bytes(data)
        os.utime(tmp, (mtime, mtime))
