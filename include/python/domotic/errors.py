"""Error types whose class tells Airflow's retry policy whether a retry can help."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator


class PermanentError(RuntimeError):
    """Retrying cannot fix this (bad configuration, authentication, a missing source object)."""


class SourceMissingError(PermanentError):
    """A source object (remote directory, upstream table) does not exist."""


class ConfigurationError(PermanentError):
    """A setting is missing or invalid."""


class StorageUnavailableError(PermanentError):
    """The filesystem refuses writes for good (read-only, full, over quota, not ours): retrying cannot help."""


# errno values that mean "this filesystem will not take the write" until someone acts, whatever is retried.
READ_ONLY_OR_FULL = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT})
PERMANENT_STORAGE_ERRNOS = READ_ONLY_OR_FULL | {errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def storage_errors(what: str, errnos: frozenset[int] = PERMANENT_STORAGE_ERRNOS) -> Iterator[None]:
    """Turn an ``OSError`` meaning a read-only, full, over-quota or forbidden folder into
    ``StorageUnavailableError`` (the retry policy fails such a task at once and the alert names the cause),
    keeping it as the cause. ``errnos``: the ones meant (``READ_ONLY_OR_FULL`` where a permission error may come
    from elsewhere, e.g. a remote server)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in errnos:
            raise
        raise StorageUnavailableError(f"{what}: {exc.strerror} ({exc.filename or 'no file name'}); fix the "
                                      "filesystem (space, mount options, owner), then clear the task") from exc
