"""The Bronze tree as the maintenance jobs walk it: apartment folders, dated day folders, the retention cutoff.

``<bronze_root>/<apartment>/YYYY/MM/DD/`` holds an apartment's sensor files, ``<bronze_root>/weather/YYYY/MM/DD/``
the weather forecasts and ``<bronze_root>/_quarantine/`` the files whose names do not parse (never touched).
Days are UTC days, as Bronze is partitioned.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from domotic.errors import ConfigurationError
from domotic.sensors.load import QUARANTINE_DIR

WEATHER_DIR = "weather"


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


def month_entries(top: Path) -> Iterator[tuple[str, date | None, Path]]:
    """``(name, day, path)`` of every entry of the ``top/YYYY/MM`` folders, sorted; ``day`` is None unless the
    name is a valid ``DD`` of that month (an archive ``DD.tar.gz``, a temporary, anything else)."""
    if not top.is_dir():
        return
    for year in sorted(os.listdir(top)):
        if not (len(year) == 4 and year.isdigit()) or not (top / year).is_dir():
            continue
        for month in sorted(os.listdir(top / year)):
            month_dir = top / year / month
            if not (len(month) == 2 and month.isdigit() and month_dir.is_dir()):
                continue
            for name in sorted(os.listdir(month_dir)):
                yield name, _day_of(int(year), int(month), name), month_dir / name


def _day_of(year: int, month: int, name: str) -> date | None:
    if len(name) != 2 or not name.isdigit():
        return None
    try:
        return date(year, month, int(name))
    except ValueError:
        return None


def retention_cutoff(today: date, retention_days: int) -> date | None:
    """Days strictly before the cutoff are compacted; None when compaction is disabled (negative retention)."""
    if retention_days < 0:
        return None
    if retention_days == 0:
        raise ConfigurationError(
            "bronze_retention_days must be >= 1 (or negative to disable compaction): the current day and the "
            "day sensors_daily is still loading are never compacted")
    return today - timedelta(days=retention_days)
