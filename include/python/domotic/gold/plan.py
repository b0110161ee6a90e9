"""Gold's plan: which windows a build rebuilds and every parameter the Gold SQL binds (pure, no I/O).

Windows. A window is a half-open UTC interval ``[start, end)`` of whole minutes. Two scopes:

* ``sensor``: sensor facts (energy, environment, presence) of its minutes, device health of the whole UTC days
  it touches, and the calendar of those days;
* ``weather``: weather facts of the hours it touches, and the calendar of those days.

What to rebuild comes from Gold's work ledger (``domotic.gold.ledger``, ``silver.gold_ledger``), never from the
asset events Airflow chooses to deliver (apache/airflow#56050 leaves some undelivered): every Silver writer
records its changed window there in the transaction of the change, and every build, however it started,
claims every pending row inside its own transaction (``build/02_claim.sql``) and rebuilds their windows, merged
per scope (overlapping or adjacent windows become one; nothing is added between separate windows). A
'reference' row (the weekly MySQL snapshot) has no window: it refreshes the dimensions and the error counts of
every health row. On top of the ledger, a time-triggered or manual run with logical date ``D`` rebuilds the
whole UTC day ``[D, D+1)`` in both scopes (and refreshes the reference data), and a manual run may name its own
window in the run conf: ``{"window_start": ..., "window_end": ...}``. Asset events wake ``gold_build`` up; their
windows are logged beside the plan, for the UI, and are not the work list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domotic.gold.ledger import Pending

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------- settings

LOCAL_TZ = "Europe/Zurich"
HOLIDAY_COUNTRY, HOLIDAY_SUBDIVISION = "CH", "VS"  # Valais
# How far back the previous reading of a counter or door contact is looked for (and how far after a window
# its next reading is re-measured). Longer gaps leave no baseline: energy NULL, no transition.
LOOKBACK_MINUTES = 7 * 24 * 60
WORK_MEM = "256MB"
# What each build absorbed from Gold's work ledger (silver.gold_ledger_absorbed) is kept this long.
LEDGER_RETENTION_DAYS = 30
OUTDOOR_ROOMS: tuple[str, ...] = ("Outdoor", "Outside")
METER_ROOMS: tuple[str, ...] = ("House",)
APPLIANCE_ROOMS: tuple[str, ...] = ("Dishwasher", "Dryer", "WashingMachine")

ASSET_SCOPES: dict[str, str] = {
    "silver_sensor_readings": "sensor",
    "silver_weather": "weather",
    "silver_reference": "reference",
    "ml_predictions": "sensor",  # new forecasts: Gold sets presence_prob of the forecast window's minutes
}

# ------------------------------------------------------------------------------------------- windows


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC interval ``[start, end)`` of whole minutes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if value.tzinfo is None:
                raise ValueError(f"window bounds must be timezone-aware, got {value!r}")
        if self.end <= self.start:
            raise ValueError(f"empty window: end {self.end.isoformat()} is not after start {self.start.isoformat()}")

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Window:
        """The smallest whole-minute UTC window containing ``[start, end)``."""
        return cls(floor_minute(start), ceil_minute(end))

    def as_json(self) -> list[str]:
        return [self.start.isoformat(), self.end.isoformat()]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"timestamp must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def floor_minute(value: datetime) -> datetime:
    return _utc(value).replace(second=0, microsecond=0)


def ceil_minute(value: datetime) -> datetime:
    floored = floor_minute(value)
    return floored if floored == _utc(value) else floored + timedelta(minutes=1)


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from an ISO-8601 string or a datetime; naive values are refused."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise ValueError(f"not a timestamp: {value!r}")


def merge_windows(windows: Iterable[Window]) -> list[Window]:
    """Sorted, with overlapping or touching windows merged; a gap between two windows is never filled."""
    merged: list[Window] = []
    for window in sorted(windows):
        if merged and window.start <= merged[-1].end:
            if window.end > merged[-1].end:
                merged[-1] = Window(merged[-1].start, window.end)
        else:
            merged.append(window)
    return merged


def day_window(day: date) -> Window:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def window_from_extra(extra: Mapping[str, Any] | None) -> Window | None:
    """The window of an asset event's extra, rounded out to whole minutes; None when it names none."""
    if not extra or extra.get("window_start") in (None, "") or extra.get("window_end") in (None, ""):
        return None
    start, end = parse_timestamp(extra["window_start"]), parse_timestamp(extra["window_end"])
    if end <= start:
        raise ValueError(f"asset event window ends before it starts: {dict(extra)!r}")
    return Window.of(start, end)


# ------------------------------------------------------------------------------------------- the plan


@dataclass
class BuildPlan:
    """What one build rebuilds: its own windows, plus every pending change of Gold's work ledger.

    ``sensor``/``weather``/``refresh_reference`` are the run's own work (its UTC day, or a conf window); they are
    bound as parameters. ``pending`` is a preview of the ledger: the build claims those rows (and any committed
    meanwhile) in its transaction. ``events`` are the triggering asset events' windows, logged only.
    """

    sensor: list[Window] = field(default_factory=list)
    weather: list[Window] = field(default_factory=list)
    refresh_reference: bool = False
    reason: str = ""
    ignored: list[str] = field(default_factory=list)  # events that could not be read, and why
    pending: Pending = field(default_factory=Pending)
    events: dict[str, list[Window]] = field(default_factory=dict)  # asset name -> event windows (logged only)
    run_id: str = "manual"

    def __post_init__(self) -> None:
        self.sensor = merge_windows(self.sensor)
        self.weather = merge_windows(self.weather)

    @property
    def is_empty(self) -> bool:
        return not self.sensor and not self.weather and not self.refresh_reference and not self.pending.changes

    def days(self) -> list[date]:
        """The UTC days the run's own windows and the pending ledger changes touch."""
        spans = [(w.start, w.end) for w in (*self.sensor, *self.weather)]
        if self.pending.span():
            spans.append(self.pending.span())
        days: set[date] = set()
        for start, end in spans:
            days.add(_utc(start).date())
            days.add((_utc(end) - timedelta(minutes=1)).date())
        return sorted(days)

    def calendar_years(self) -> tuple[int, int]:
        """The calendar years the build gets holidays for: those of every day it plans, one more on each side
        (ledger rows committed after this plan are claimed only when they fall inside)."""
        days = self.days()
        if not days:
            return 0, 0
        return days[0].year - 1, days[-1].year + 1

    def summary(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "sensor_windows": [w.as_json() for w in self.sensor],
            "weather_windows": [w.as_json() for w in self.weather],
            "refresh_reference": self.refresh_reference,
            "pending_ledger": self.pending.summary(),
            "event_windows": {name: [w.as_json() for w in windows] for name, windows in self.events.items()},
            "ignored": list(self.ignored),
        }

    def parameters(self, weather_sites: Sequence[str] = ("Sion",), *, local_tz: str = LOCAL_TZ,
                   lookback_minutes: int = LOOKBACK_MINUTES, work_mem: str = WORK_MEM,
                   ledger_retention_days: int = LEDGER_RETENTION_DAYS) -> dict[str, Any]:
        """The parameters every Gold SQL file binds (JSON-serialisable: they travel through XCom)."""
        from domotic.sensors.flatten import ROOM_NAMES

        first_year, last_year = self.calendar_years()
        holidays = holiday_rows(date(first_year, 1, 1), date(last_year, 12, 31)) if first_year else []
        calendar = (datetime(first_year, 1, 1, tzinfo=UTC), datetime(last_year + 1, 1, 1, tzinfo=UTC)) \
            if first_year else (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC))
        return {
            "run_id": self.run_id,
            "calendar_start": calendar[0].isoformat(),
            "calendar_end": calendar[1].isoformat(),
            "ledger_retention_days": int(ledger_retention_days),
            "sensor_starts": [w.start.isoformat() for w in self.sensor],
            "sensor_ends": [w.end.isoformat() for w in self.sensor],
            "weather_starts": [w.start.isoformat() for w in self.weather],
            "weather_ends": [w.end.isoformat() for w in self.weather],
            "refresh_reference": self.refresh_reference,
            "holiday_dates": [d.isoformat() for d, _ in holidays],
            "holiday_names": [name for _, name in holidays],
            "weather_sites": [s.strip() for s in weather_sites if s.strip()],
            "local_tz": local_tz,
            "lookback_minutes": int(lookback_minutes),
            "work_mem": work_mem,
            "room_alias_from": list(ROOM_NAMES),
            "room_alias_to": list(ROOM_NAMES.values()),
            "outdoor_rooms": list(OUTDOOR_ROOMS),
            "meter_rooms": list(METER_ROOMS),
            "appliance_rooms": list(APPLIANCE_ROOMS),
        }


def event_windows(events: Iterable[tuple[str, Mapping[str, Any] | None]]) -> tuple[dict[str, list[Window]], list[str]]:
    """The windows named by triggering asset events (asset name -> windows), and the events that name none.

    Logged beside the plan, for the UI: the work itself comes from the ledger (module docstring).
    """
    windows: dict[str, list[Window]] = {}
    ignored: list[str] = []
    for name, extra in events:
        if name not in ASSET_SCOPES:
            ignored.append(f"{name}: not an asset gold_build rebuilds from")
            continue
        try:
            window = window_from_extra(extra)
        except ValueError as exc:
            ignored.append(f"{name}: {exc}")
            continue
        if window is not None:
            windows.setdefault(name, []).append(window)
        elif ASSET_SCOPES[name] != "reference":
            ignored.append(f"{name}: event names no window_start/window_end")
    return {name: merge_windows(found) for name, found in windows.items()}, ignored


def plan_for_day(day: date, pending: Pending | None = None, run_id: str = "manual") -> BuildPlan:
    """A time-triggered or manual run for logical date ``day``: the whole UTC day in both scopes, plus the
    pending ledger changes."""
    window = day_window(day)
    return BuildPlan([window], [window], refresh_reference=True, reason=f"UTC day {day.isoformat()}",
                     pending=pending or Pending(), run_id=run_id)


def plan_from_conf(conf: Mapping[str, Any] | None) -> BuildPlan | None:
    """A manual run's own window (``{"window_start": ..., "window_end": ...}`` in the run conf), if any."""
    window = window_from_extra(conf) if conf else None
    if window is None:
        return None
    return BuildPlan([window], [window], refresh_reference=True, reason="run conf window")


def plan_from_context(triggering_asset_events: Any, logical_date: datetime | None,
                      conf: Mapping[str, Any] | None, pending: Pending | None = None,
                      run_id: str = "manual") -> BuildPlan:
    """The plan of a run of gold_build, from what Airflow puts in the task context and the ledger's preview.

    Every run claims the pending ledger changes. On top of them, a run with a conf window rebuilds it, and a run
    with a logical date rebuilds its UTC day; asset-triggered runs have no logical date (airflow3-notes 1.3) and
    only claim. ``triggering_asset_events`` (asset -> events with ``.asset.name`` and ``.extra``) are logged.
    """
    pairs: list[tuple[str, Mapping[str, Any] | None]] = []
    seen: set[int] = set()
    for key in triggering_asset_events or {}:
        for event in triggering_asset_events[key]:
            if id(event) in seen:  # an event reached through an alias as well
                continue
            seen.add(id(event))
            pairs.append((event.asset.name, event.extra))
    events, ignored = event_windows(pairs)
    plan = plan_from_conf(conf)
    if plan is None and logical_date is not None:
        plan = plan_for_day(_utc(logical_date).date())
    if plan is None:
        plan = BuildPlan(reason=f"{len(pairs)} asset event(s): pending ledger changes" if pairs
                         else "no logical date or conf window: pending ledger changes")
    plan.pending = pending or Pending()
    plan.events, plan.ignored, plan.run_id = events, ignored, run_id
    return plan


def log_plan(plan: BuildPlan) -> None:
    for reason in plan.ignored:
        log.warning("Asset event without a usable window (the ledger holds the work): %s", reason)
    log.info("Gold build plan: %s", plan.summary())


# ------------------------------------------------------------------------------------------- holidays


def holiday_rows(first: date, last: date) -> list[tuple[date, str]]:
    """Public holidays of the canton of Valais between two dates (inclusive), from the `holidays` library."""
    import holidays

    calendar = holidays.country_holidays(HOLIDAY_COUNTRY, subdiv=HOLIDAY_SUBDIVISION,
                                         years=range(first.year, last.year + 1), language="en_US")
    return sorted((day, name) for day, name in calendar.items() if first <= day <= last)
