"""What the models learn from: Gold's hourly history, read once per run into arrays (no Airflow, no settings).

``History`` holds, over a contiguous range of UTC hours, each apartment's hourly kWh (house meter) and each
room's hourly presence (NaN where unknown), Valais holidays, and every weather forecast *as issued* per issue
date (interpolated from the 3-hourly source to hours). ``read_history`` fills it from Gold; tests and the
benchmark build it the same way. Hours are counted since 1970-01-01 00:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from domotic.paths import SQL_DIR

MIN_MINUTES = 30  # an hour with fewer minutes of data is unknown
WEATHER_FIELDS = ("temperature_c", "radiation_wm2", "precipitation_mm")
WEATHER_HOURS = 72  # a forecast is kept from its issue date's 00:00 UTC for this many hours
# Plausible forecast values; outside them (or flagged an outlier in Silver) a forecast hour is unusable.
WEATHER_BOUNDS = {"temperature_c": (-40.0, 50.0), "radiation_wm2": (0.0, 1400.0), "precipitation_mm": (0.0, 200.0)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_sql(name: str) -> str:
    return (SQL_DIR / "ml" / name).read_text()


def hour_of(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds()) // 3600


def hour_of_day_start(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 24


def moment_of(hour: int) -> datetime:
    return _EPOCH + timedelta(hours=int(hour))


def hour_of_key(hour_key: int) -> int:
    """Hour index of a YYYYMMDDHH key (UTC)."""
    text = str(int(hour_key))
    return hour_of(datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), tzinfo=UTC))


def datetime_key(hour: int) -> int:
    """YYYYMMDDHHMI of the hour's first minute (Gold's datetime_key)."""
    return int(moment_of(hour).strftime("%Y%m%d%H%M"))


@dataclass
class History:
    """Hourly series over ``[first_hour, first_hour + hours)``; arrays use NaN for unknown hours."""

    first_hour: int
    hours: int
    apartments: list[str]
    apartment_keys: dict[str, int]
    energy: np.ndarray  # (apartments, hours) kWh
    rooms: list[tuple[str, int, str]]  # (apartment_id, room_key, room_name)
    presence: np.ndarray  # (rooms, hours) 1.0 / 0.0 / NaN
    holidays: set[date] = field(default_factory=set)
    # issue date -> (len(WEATHER_FIELDS), WEATHER_HOURS) forecast from that date's 00:00 UTC; NaN = unusable
    weather: dict[date, np.ndarray] = field(default_factory=dict)
    # apartment -> the same, for apartments whose weather site (silver.apartment_registry, through
    # gold.dim_apartment) is not the default one
    site_weather: dict[str, dict[date, np.ndarray]] = field(default_factory=dict)

    def weather_of(self, apartment: str) -> dict[date, np.ndarray]:
        """The forecasts by issue date of the apartment's weather site."""
        return self.site_weather.get(apartment, self.weather)

    @property
    def first_day(self) -> date:
        return date(1970, 1, 1) + timedelta(hours=self.first_hour) // timedelta(days=1) * timedelta(days=1)

    def index(self, hour: int) -> int:
        return hour - self.first_hour

    def room_apartment(self) -> np.ndarray:
        """Apartment index of each room."""
        return np.array([self.apartments.index(a) for a, _, _ in self.rooms], dtype=int)

    def truncated(self, end_hour: int) -> History:
        """The history as known at ``end_hour``: every hour from it on unknown, no forecast issued after it.

        Forecasts issued on a date are usable at the end of that date (the run issues at the next midnight).
        """
        cut = max(0, min(self.hours, end_hour - self.first_hour))
        energy, presence = self.energy.copy(), self.presence.copy()
        energy[:, cut:] = np.nan
        presence[:, cut:] = np.nan
        def known(forecasts: dict[date, np.ndarray]) -> dict[date, np.ndarray]:
            return {day: values for day, values in forecasts.items() if hour_of_day_start(day) + 24 <= end_hour}

        return History(self.first_hour, self.hours, self.apartments, self.apartment_keys, energy, self.rooms,
                       presence, set(self.holidays), known(self.weather),
                       {apartment: known(forecasts) for apartment, forecasts in self.site_weather.items()})


def interpolate_forecast(steps: dict[int, tuple[float | None, float | None, float | None, bool]],
                         start_hour: int) -> np.ndarray:
    """(fields, WEATHER_HOURS) from 3-hourly forecast steps {hour: (temperature, radiation, precipitation,
    is_outlier)}: linear in time between usable steps at most 3 hours apart, NaN elsewhere."""
    out = np.full((len(WEATHER_FIELDS), WEATHER_HOURS), np.nan)
    grid = np.arange(start_hour, start_hour + WEATHER_HOURS)
    for k, name in enumerate(WEATHER_FIELDS):
        lo, hi = WEATHER_BOUNDS[name]
        usable = sorted((h, v[k]) for h, v in steps.items()
                        if v[k] is not None and not v[3] and lo <= v[k] <= hi and np.isfinite(v[k]))
        if not usable:
            continue
        xs = np.array([h for h, _ in usable], dtype=float)
        ys = np.array([y for _, y in usable], dtype=float)
        values = np.interp(grid, xs, ys)
        # no value further than 3 hours from a usable step (no invented weather over gaps)
        distance = np.min(np.abs(grid[:, None] - xs[None, :]), axis=1)
        values[distance > 3] = np.nan
        out[k] = values
    return out


def read_history(conn: Any, first_day: date, last_day: date, site: str, *, forecast_until: date | None = None
                 ) -> History:
    """Gold's hourly history of the UTC days ``first_day..last_day`` (inclusive), the holidays up to two days
    after it, and the forecasts of ``site`` issued on those days (of its own site for an apartment the registry
    gives another one)."""
    first_hour = hour_of_day_start(first_day)
    end_hour = hour_of_day_start(last_day + timedelta(days=1))
    keys = {"start_key": datetime_key(first_hour), "end_key": datetime_key(end_hour), "min_minutes": MIN_MINUTES}
    with conn.cursor() as cur:
        cur.execute(read_sql("apartments.sql"))
        apartment_keys = {a: int(k) for a, k in cur.fetchall()}
        cur.execute(read_sql("energy_hourly.sql"), keys)
        energy_rows = cur.fetchall()
        cur.execute(read_sql("presence_hourly.sql"), keys)
        presence_rows = cur.fetchall()
        cur.execute(read_sql("calendar.sql"), {"first": first_day, "last": last_day + timedelta(days=2)})
        calendar = cur.fetchall()
        issues = {"first_issue": first_day, "last_issue": forecast_until or last_day}
        cur.execute(read_sql("weather_issues.sql"), {"site": site, **issues})
        weather_rows = cur.fetchall()
        cur.execute(read_sql("apartment_sites.sql"), {"site": site})
        other_sites = {apartment: other for apartment, other in cur.fetchall() if apartment in apartment_keys}
        site_rows = {}
        for other in sorted(set(other_sites.values())):
            cur.execute(read_sql("weather_issues.sql"), {"site": other, **issues})
            site_rows[other] = cur.fetchall()
    conn.rollback()
    apartments = sorted(apartment_keys)
    hours = end_hour - first_hour
    energy = np.full((len(apartments), hours), np.nan)
    for apartment, hour_key, kwh in energy_rows:
        if apartment in apartment_keys and kwh is not None:
            energy[apartments.index(apartment), hour_of_key(hour_key) - first_hour] = float(kwh)
    rooms = sorted({(a, int(k), name) for a, k, name, _, _ in presence_rows if a in apartment_keys})
    room_index = {(a, k): i for i, (a, k, _) in enumerate(rooms)}
    presence = np.full((len(rooms), hours), np.nan)
    for apartment, room_key, _, hour_key, flag in presence_rows:
        if apartment in apartment_keys:
            presence[room_index[(apartment, int(room_key))], hour_of_key(hour_key) - first_hour] = float(flag)
    holidays = _holidays(calendar, first_day, last_day + timedelta(days=2))
    by_site = {other: forecasts_by_issue(rows) for other, rows in site_rows.items()}
    return History(first_hour, hours, apartments, apartment_keys, energy, rooms, presence, holidays,
                   forecasts_by_issue(weather_rows),
                   {apartment: by_site[other] for apartment, other in other_sites.items()})


def forecasts_by_issue(rows: list[tuple]) -> dict[date, np.ndarray]:
    """Rows (prediction_date, hour_key, temperature, radiation, precipitation, is_outlier) -> per issue date
    the interpolated hourly forecast from that date's 00:00 UTC."""
    steps: dict[date, dict[int, tuple]] = {}
    for issue, hour_key, temperature, radiation, precipitation, is_outlier in rows:
        steps.setdefault(issue, {})[hour_of_key(hour_key)] = (
            None if temperature is None else float(temperature), None if radiation is None else float(radiation),
            None if precipitation is None else float(precipitation), bool(is_outlier))
    return {issue: interpolate_forecast(by_hour, hour_of_day_start(issue)) for issue, by_hour in steps.items()}


def _holidays(calendar: list[tuple[date, bool]], first: date, last: date) -> set[date]:
    """Holidays from Gold's calendar; dates Gold has not built yet (tomorrow) from the same source the Gold
    build binds (``domotic.gold.plan.holiday_rows``: Valais public holidays)."""
    from domotic.gold.plan import holiday_rows

    known = {day: bool(flag) for day, flag in calendar}
    upcoming = {day for day, _ in holiday_rows(first, last)}
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return {day for day in days if known.get(day, day in upcoming)}
