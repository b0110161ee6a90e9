"""The task bodies of ``weather_daily``: the only module of the package that reads settings or opens
connections.

``fetch_new_files`` and ``load_new_files`` are what the DAG's tasks of the same names call; ``fetch_up_to``
and ``load_up_to`` do the same work for a given issue date, taking as arguments the settings tests want to
set. Everything below this module takes plain values.

The DAG file imports this module when it is parsed: the pandas side (``load``, ``clean``) is imported only
inside the load functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domotic.airflow_adapter import setting, sftp_hook, warehouse_connection
from domotic.errors import READ_ONLY_OR_FULL, storage_errors
from domotic.settings import SFTP_CONN_ID
from domotic.weather import run_day
from domotic.weather.fetch import FetchReport, download_new_files

if TYPE_CHECKING:
    from domotic.weather.load import LoadReport


class NothingLoaded(Exception):
    """The run loaded no forecast row (nothing new, or only quarantined files): the DAG skips the task."""


def fetch_new_files(logical_date: datetime | None, run_after: datetime | None) -> dict[str, Any]:
    """Task body of ``weather_daily.fetch_new_files``: download what is new up to the run's day; returns the
    summary."""
    return fetch_up_to(run_day(logical_date, run_after)).summary()


def load_new_files(
    logical_date: datetime | None, run_after: datetime | None, silver_weather: Any
) -> dict[str, Any]:
    """Task body of ``weather_daily.load_new_files``: load every pending file issued up to the run's day.

    Sets the extra of ``silver_weather`` (the task's outlet event for the ``silver_weather`` asset) to the
    forecast hours the run changed and returns the run's summary; raises ``NothingLoaded`` when no row was
    loaded, so that no event wakes Gold for nothing.
    """
    from domotic.weather.load import asset_extra

    report = load_up_to(run_day(logical_date, run_after))
    extra = asset_extra(report)
    if extra is None:
        raise NothingLoaded(f"no forecast rows loaded (quarantined: {report.quarantined or 'none'})")
    silver_weather.extra = extra
    return report.summary()


def fetch_up_to(
    day: date, *, remote_dir: str | None = None, bronze_root: Path | str | None = None
) -> FetchReport:
    """Download the files issued up to ``day`` that are new or changed, over connection ``meteo_sftp``.

    ``remote_dir`` and ``bronze_root`` default to the Variables ``meteo_sftp_path`` and
    ``domotic_bronze_root``.
    """
    remote_dir = remote_dir or setting("meteo_sftp_path")
    root = Path(bronze_root or setting("domotic_bronze_root"))
    # Read-only or full only: a permission error here may be the sFTP server's (paramiko maps it to EACCES).
    with contextlib.closing(warehouse_connection()) as conn, storage_errors(f"Bronze {root}", READ_ONLY_OR_FULL):
        return download_new_files(sftp_hook(SFTP_CONN_ID), conn, day, remote_dir, root, conn_id=SFTP_CONN_ID,
                                  max_bytes=setting("weather_max_file_bytes"))


def load_up_to(
    day: date, *, connect: Callable[[], Any] | None = None, min_year: int | None = None
) -> LoadReport:
    """Clean and load every downloaded, not yet loaded file issued up to ``day``.

    ``connect`` opens a warehouse connection (default: connection ``domotic_postgres``); ``min_year``
    defaults to the Variable ``weather_min_year``.
    """
    from domotic.weather.load import load_pending_files

    if min_year is None:
        min_year = setting("weather_min_year")
    return load_pending_files(connect or warehouse_connection, day, min_year)
