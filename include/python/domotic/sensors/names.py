"""Sensor file names: parse, predict, and place them in Bronze.

Source names look like ``18.08.2023 1000_JimmyLoup_received.json``: the minute is written in the source
clock (``domotic_source_tz``, UTC by default) and the handle names the apartment. Predicting names lets the
minutely DAG test for two exact paths instead of listing a share of hundreds of thousands of files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Owner handle (as written in file names) -> apartment id used everywhere downstream.
HANDLES: dict[str, str] = {"JimmyLoup": "jimmy", "JeremieVianin": "jeremie"}
_HANDLE_BY_LOWER = {handle.lower(): apartment for handle, apartment in HANDLES.items()}

SENSOR_NAME_RE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2})(\d{2})_([^_/]+)_received\.json$")
# A re-delivery with new content is kept in Bronze beside the first version as ``<name>.<sha12>``.
VERSION_SUFFIX_RE = re.compile(r"\.json\.([0-9a-f]{12})$")


class BadFileName(ValueError):
    """The name does not follow the contract (pattern, date or handle); the message says why."""


@dataclass(frozen=True, slots=True)
class SensorFileName:
    name: str
    handle: str
    apartment: str
    minute_utc: datetime  # the file-name minute, converted from the source clock to UTC


def _tz(source_tz: str) -> ZoneInfo | None:
    return None if source_tz.upper() == "UTC" else ZoneInfo(source_tz)


def to_utc(naive: datetime, source_tz: str) -> datetime:
    """Label a naive source time with the source time zone and convert it to UTC."""
    zone = _tz(source_tz)
    if zone is None:
        return naive.replace(tzinfo=UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def from_utc(minute_utc: datetime, source_tz: str) -> datetime:
    """The naive source-clock time for a UTC instant."""
    zone = _tz(source_tz)
    local = minute_utc.astimezone(UTC) if zone is None else minute_utc.astimezone(zone)
    return local.replace(tzinfo=None)


def parse_sensor_name(name: str, source_tz: str = "UTC") -> SensorFileName:
    """Parse a source (or Bronze-versioned) file name; raise BadFileName naming the reason."""
    canonical = canonical_name(name)
    match = SENSOR_NAME_RE.fullmatch(canonical)  # fullmatch: '$' alone lets a trailing newline through
    if not match:
        raise BadFileName(f"name does not match 'DD.MM.YYYY HHMM_<handle>_received.json': {name!r}")
    day, month, year, hour, minute, handle = match.groups()
    apartment = _HANDLE_BY_LOWER.get(handle.lower())
    if apartment is None:
        raise BadFileName(f"unknown owner handle {handle!r} in {name!r} (known: {', '.join(HANDLES)})")
    try:
        naive = datetime(int(year), int(month), int(day), int(hour), int(minute))
    except ValueError as exc:
        raise BadFileName(f"invalid date/time in file name {name!r}: {exc}") from None
    return SensorFileName(canonical, handle, apartment, to_utc(naive, source_tz))


def canonical_name(name: str) -> str:
    """The source name of a Bronze file (drops the ``.<sha12>`` version suffix of re-deliveries)."""
    match = VERSION_SUFFIX_RE.search(name)
    return name[: match.start()] + ".json" if match else name


def sensor_name(handle: str, minute_utc: datetime, source_tz: str = "UTC") -> str:
    """The exact source file name for a handle and a UTC minute."""
    local = from_utc(minute_utc, source_tz)
    return f"{local:%d.%m.%Y %H%M}_{handle}_received.json"


def predict_names(minute_utc: datetime, source_tz: str = "UTC") -> list[str]:
    """The names both apartments will deliver for this minute (no listing needed)."""
    return [sensor_name(handle, minute_utc, source_tz) for handle in HANDLES]


def day_prefixes(day: date, source_tz: str = "UTC") -> list[str]:
    """``DD.MM.YYYY `` prefixes of the source-clock dates that overlap the UTC day ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    first, last = from_utc(start, source_tz).date(), from_utc(start + timedelta(days=1, minutes=-1), source_tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [f"{d:%d.%m.%Y} " for d in days]


def bronze_dir(bronze_root: Path, apartment: str, minute_utc: datetime) -> Path:
    """``<bronze_root>/<apartment>/YYYY/MM/DD/HH`` from the file-name minute (UTC)."""
    return bronze_root / apartment / f"{minute_utc:%Y}" / f"{minute_utc:%m}" / f"{minute_utc:%d}" / f"{minute_utc:%H}"


def versioned_name(name: str, checksum: str) -> str:
    """Bronze name for a re-delivery whose content differs from the first version kept under ``name``."""
    return f"{name}.{checksum[:12]}"
