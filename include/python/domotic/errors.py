"""Error types whose class tells Airflow's retry policy whether a retry can help."""

from __future__ import annotations


class PermanentError(RuntimeError):
    """Retrying cannot fix this (bad configuration, authentication, a missing source object)."""


class SourceMissingError(PermanentError):
    """A source object (remote directory, upstream table) does not exist."""


class ConfigurationError(PermanentError):
    """A setting is missing or invalid."""
