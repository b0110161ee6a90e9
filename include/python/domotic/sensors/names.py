"""Sensor file names: parse, predict, and place them in Bronze.

Source names look like ``18.08.2023 1000_<Handle>_received.json``: the minute is written in the source
clock (``domotic_source_tz``, UTC by default, or the apartment's own clock when the registry gives one) and
the handle names the apartment. Which handles exist is data, not code: an ``ApartmentRegistry`` read from
``silver.apartment_registry`` (``domotic.warehouse.tenants.read_registry``) is passed in by the caller.
Predicting names lets the minutely DAG test for one exact path per active apartment instead of listing a
share of hundreds of thousands of files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SENSOR_NAME_RE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2})(\d{2})_([^_/]+)_received\.json$")
# A re-delivery with new content is kept in Bronze beside the first version as ``<name>.<sha12>``.
VERSION_SUFFIX_RE = re.compile(r"\.json\.([0-9a-f]{12})$")


# The start of the quarantine reason of a file whose handle the registry lacks: such files are retried by the
# next run that sees them (sensors_daily re-runs), since the apartment may have been registered meanwhile.
UNKNOWN_HANDLE = "unknown owner handle"


class BadFileName(ValueError):
    """The name does not follow the contract (pattern, date or handle); the message says why."""


@dataclass(frozen=True, slots=True)
class Apartment:
    """One row of the apartment registry, as file-name parsing needs it."""

    apartment_id: str  # the tenant key everywhere downstream (Silver, Gold, row-level security)
    handle: str  # the owner handle as written in file names (matched case-insensitively)
    source_tz: str | None = None  # the apartment's source clock when it differs from domotic_source_tz


class ApartmentRegistry:
    """Owner handle -> apartment, case-insensitive; built from ``silver.apartment_registry`` rows."""

    def __init__(self, apartments: Iterable[Apartment] = ()) -> None:
        self._by_handle: dict[str, Apartment] = {}
        for apartment in apartments:
            key = apartment.handle.lower()
            if key in self._by_handle:
                raise ValueError(f"owner handle {apartment.handle!r} is registered twice (case-insensitive)")
            self._by_handle[key] = apartment

    @classmethod
    def of(cls, handles: dict[str, str], source_tz: str | None = None) -> ApartmentRegistry:
        """A registry from ``{handle: apartment_id}`` (tests, tools)."""
        return cls(Apartment(apartment, handle, source_tz) for handle, apartment in handles.items())

    def get(self, handle: str) -> Apartment | None:
        return self._by_handle.get(handle.lower())

    def __iter__(self) -> Iterator[Apartment]:
        return iter(self._by_handle.values())

    def __len__(self) -> int:
        return len(self._by_handle)

    def __repr__(self) -> str:
        return f"ApartmentRegistry({len(self)} apartments)"

    @property
    def handles(self) -> list[str]:
        return [apartment.handle for apartment in self]

    def zones(self, source_tz: str) -> list[str]:
        """Every source clock in use: the deployment's and the apartments' own."""
        return sorted({source_tz, *(a.source_tz for a in self if a.source_tz)})


@dataclass(frozen=True, slots=True)
class SensorFileName:
    name: str
    handle: str
    apartment: str
    minute_utc: datetime  # the file-name minute, converted from the source clock to UTC
    source_tz: str = "UTC"  # the clock the file's times are written in (its payload datetime too)


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


def split_sensor_name(name: str) -> tuple[str, datetime]:
    """The handle and naive source-clock minute of a well-formed name (no registry needed); BadFileName if not."""
    match = SENSOR_NAME_RE.fullmatch(canonical_name(name))  # fullmatch: '$' alone lets a trailing newline through
    if not match:
        raise BadFileName(f"name does not match 'DD.MM.YYYY HHMM_<handle>_received.json': {name!r}")
    day, month, year, hour, minute, handle = match.groups()
    try:
        return handle, datetime(int(year), int(month), int(day), int(hour), int(minute))
    except ValueError as exc:
        raise BadFileName(f"invalid date/time in file name {name!r}: {exc}") from None


def parse_sensor_name(name: str, registry: ApartmentRegistry, source_tz: str = "UTC") -> SensorFileName:
    """Parse a source (or Bronze-versioned) file name; raise BadFileName naming the reason.

    ``registry`` says which handles exist; ``source_tz`` is the clock of apartments without one of their own.
    """
    handle, naive = split_sensor_name(name)
    apartment = registry.get(handle)
    if apartment is None:
        raise BadFileName(f"{UNKNOWN_HANDLE} {handle!r} in {name!r} (not in the apartment registry of "
                          f"{len(registry)} apartments)")
    zone = apartment.source_tz or source_tz
    return SensorFileName(canonical_name(name), handle, apartment.apartment_id, to_utc(naive, zone), zone)


@dataclass(frozen=True)
class FileNaming:
    """The registry and the deployment's source clock: everything needed to parse a name."""

    registry: ApartmentRegistry
    source_tz: str = "UTC"

    def parse(self, name: str) -> SensorFileName:
        return parse_sensor_name(name, self.registry, self.source_tz)


def canonical_name(name: str) -> str:
    """The source name of a Bronze file (drops the ``.<sha12>`` version suffix of re-deliveries)."""
    match = VERSION_SUFFIX_RE.search(name)
    return name[: match.start()] + ".json" if match else name


def sensor_name(handle: str, minute_utc: datetime, source_tz: str = "UTC") -> str:
    """The exact source file name for a handle and a UTC minute."""
    local = from_utc(minute_utc, source_tz)
    return f"{local:%d.%m.%Y %H%M}_{handle}_received.json"


def predict_names(minute_utc: datetime, registry: ApartmentRegistry, source_tz: str = "UTC") -> list[str]:
    """The names the registry's apartments (pass the active ones) will deliver for this minute (no listing)."""
    return [sensor_name(a.handle, minute_utc, a.source_tz or source_tz) for a in registry]


def day_prefixes(day: date, source_tz: str | Iterable[str] = "UTC") -> list[str]:
    """``DD.MM.YYYY `` prefixes of the source-clock dates that overlap the UTC day ``day`` (in any of the
    clocks given: one, or every clock of the registry, ``ApartmentRegistry.zones``)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    days: set[date] = set()
    for zone in [source_tz] if isinstance(source_tz, str) else source_tz:
        first, last = from_utc(start, zone).date(), from_utc(start + timedelta(days=1, minutes=-1), zone).date()
        days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
    return [f"{d:%d.%m.%Y} " for d in sorted(days)]


def bronze_dir(bronze_root: Path, apartment: str, minute_utc: datetime) -> Path:
    """``<bronze_root>/<apartment>/YYYY/MM/DD/HH`` from the file-name minute (UTC)."""
    return bronze_root / apartment / f"{minute_utc:%Y}" / f"{minute_utc:%m}" / f"{minute_utc:%d}" / f"{minute_utc:%H}"


def versioned_name(name: str, checksum: str) -> str:
    """Bronze name for a re-delivery whose content differs from the first version kept under ``name``."""
    return f"{name}.{checksum[:12]}"
