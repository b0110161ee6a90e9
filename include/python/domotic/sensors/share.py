"""The sensor share, read as hostile input: no link is followed, nothing blocks, only regular files of a bounded
size are read, and a file rewritten while it is read is read again.

``read_share_file`` returns a file's content or raises ``ShareEntryError`` saying why not, and whether the entry
is to be quarantined (a link, a folder, a FIFO, a device, a file over the size cap: recorded once, with a
checksum standing for what was found) or left for the next run (vanished, unreadable, changing). The loader
(``domotic.sensors.load``) decides what to record; this module only reads.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat

from domotic.safe_text import safe_text

log = logging.getLogger(__name__)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def read_fd(fd: int, size: int, limit: int | None) -> bytes:
    """Everything from ``fd`` (``size`` is the expected length); stops after ``limit + 1`` bytes when given."""
    chunks = []
    remaining, total = size, 0
    while True:
        chunk = os.read(fd, max(remaining, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            break
    return b"".join(chunks)


class ShareEntryError(Exception):
    """A share entry that is not loaded as it is, and why (``reason``, safe to store and log).

    ``transient``: vanished, unreadable or changing while read; nothing is recorded and the next run looks
    again. Otherwise the entry is quarantined (a manifest row, never retried): ``digest`` stands in for the
    content checksum (of a description of what was found, since the content was not read) and ``size`` is
    the size ``fstat`` gave.
    """

    def __init__(self, reason: str, *, transient: bool = False, description: str = "", size: int = 0) -> None:
        super().__init__(reason)
        self.reason = safe_text(reason)
        self.transient = transient
        self.digest = _digest(f"not loaded: {description or reason}")
        self.size = size


# The share is read without following links (a link could point anywhere on the worker: /etc/passwd,
# /dev/zero) and without blocking (a FIFO would hold the task forever); fstat then admits regular files only.
_SHARE_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
_READ_ATTEMPTS = 3


def read_share_file(path: str, max_bytes: int) -> tuple[bytes, float]:
    """Content and modification time of a share file, read safely; ``ShareEntryError`` says why not.

    A file rewritten while it is read (the name now names another file, or its size or mtime moved) is read
    again, up to three times, then left for the next run. One ``lstat`` after the read tells both: the
    loader pays one ``fstat`` and one ``lstat`` per file for it.
    """
    for _ in range(_READ_ATTEMPTS):
        fd = _open_share_entry(path)
        try:
            opened = os.fstat(fd)
            _check_regular(opened, max_bytes)
            data = read_fd(fd, opened.st_size, max_bytes)
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes, f"grew:{opened.st_ino}:{opened.st_mtime_ns}")
        if len(data) == opened.st_size and _unchanged(path, opened):
            return data, opened.st_mtime
        log.info("%r changed while it was read: reading it again", path)
    raise ShareEntryError(f"changing while read ({_READ_ATTEMPTS} attempts): left for the next run",
                          transient=True)


def _open_share_entry(path: str) -> int:
    try:
        return os.open(path, _SHARE_OPEN_FLAGS)
    except FileNotFoundError:
        raise ShareEntryError("vanished between listing and reading", transient=True) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            raise ShareEntryError(f"a symbolic link (to {safe_text(target, 200)!r}): links are not followed",
                                  description=f"symlink:{target}") from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
            raise ShareEntryError(f"cannot be opened: {exc.strerror}", transient=True) from None
        raise


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((kind for test, kind in _FILE_KINDS if test(info.st_mode)), f"mode {info.st_mode:o}")
        raise ShareEntryError(f"not a regular file: {kind}", description=kind)
    if info.st_size > max_bytes:
        raise _too_large(info.st_size, max_bytes, f"{info.st_ino}:{info.st_mtime_ns}")


def _too_large(size: int, max_bytes: int, identity: str) -> ShareEntryError:
    return ShareEntryError(f"{size} bytes or more, over the cap sensor_max_file_bytes={max_bytes}: not read",
                           description=f"oversize:{size}:{identity}", size=size)


def _unchanged(path: str, opened: os.stat_result) -> bool:
    """Whether ``path`` still names the file that was read, as it was when opened (not renamed over, nor
    rewritten in place: same inode, size and mtime)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return True  # removed after a complete read: the content read is what was delivered
    return (now.st_ino, now.st_dev, now.st_size, now.st_mtime_ns) == (
        opened.st_ino, opened.st_dev, opened.st_size, opened.st_mtime_ns)
