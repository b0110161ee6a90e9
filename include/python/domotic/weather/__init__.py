"""Weather forecasts: MeteoSwiss files fetched over sFTP -> Bronze -> cleaned -> Silver (see docs/weather.md).

Owns, one module per concern:

* here: what DAG files may import at parse time (no pandas, numpy or psycopg): the schedule's time zone (``SCHEDULE_TZ``), the file-name rules (``Pred_YYYY-MM-DD.csv``,
  ``prediction_date_from_name``), the day a run works up to (``run_day``), where a file lives in Bronze
  (``bronze_day_dir``), and the load statements of ``include/sql/silver/weather/`` (``read_sql``);
* ``fetch``: list the remote folder, plan what to download against the manifest
  ``silver.weather_file_manifest``, download with hashing, store in Bronze; paramiko's errors as the
  permanent/transient classes the retry policy decides on;
* ``clean``: one file with pandas, step by step (``STEPS``), and the latest-forecast wide rows;
* ``load``: binary COPY into staging, the set-based SQL that replaces an issue date in Silver, the manifest
  status and per-step counts, Gold's work ledger, all in one transaction per file;
* ``tasks``: the task bodies of ``weather_daily``, the only module that reads settings or opens connections.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from domotic.errors import ConfigurationError
from domotic.paths import SQL_DIR

# The DAG's CronTriggerTimetable runs in this zone, and a run's day is its logical date's day here.
SCHEDULE_TZ = "Europe/Zurich"
FILE_NAME_RE = re.compile(r"Pred_(\d{4}-\d{2}-\d{2})\.csv")

WEATHER_SQL_DIR = SQL_DIR / "silver" / "weather"


def read_sql(name: str) -> str:
    """A statement of ``include/sql/silver/weather/`` (the manifest and load SQL)."""
    return (WEATHER_SQL_DIR / name).read_text()


def prediction_date_from_name(name: str) -> date | None:
    """Issue date from ``Pred_YYYY-MM-DD.csv``; None for any other name (those files are ignored)."""
    match = FILE_NAME_RE.fullmatch(name)  # the whole name: '$' would let "Pred_2023-08-31.csv\n" through
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def run_day(logical_date: datetime | None, run_after: datetime | None = None) -> date:
    """The issue date a run works up to: the Europe/Zurich calendar day of its logical date.

    ``airflow dags test weather_daily 2023-09-01`` (logical date 2023-09-01T00:00Z) and the scheduled run at
    07:30 Zurich on that day both give 2023-09-01. Runs without a logical date use their ``run_after``.
    """
    import pendulum

    moment = logical_date or run_after
    if moment is None:
        raise ConfigurationError("a weather_daily run needs a logical date or a run_after time")
    return pendulum.instance(moment).in_timezone(SCHEDULE_TZ).date()


def bronze_day_dir(bronze_root: Path, issue_date: date) -> Path:
    """The Bronze folder of an issue date's files: ``<bronze_root>/weather/YYYY/MM/DD``."""
    return bronze_root / "weather" / f"{issue_date:%Y}" / f"{issue_date:%m}" / f"{issue_date:%d}"
