"""Features as known at issue time, and the naive baselines (pure: a ``History`` in, pandas frames out).

A forecast issued for day ``D`` is issued at ``D+1 00:00 UTC`` (hour ``I``) and may use only what was known
then: every value is read through ``_known``, which returns NaN for any hour at or after ``I`` (so a later
change of the data can change no feature: tested), and the weather is the forecast issued *on D* (available
since its 07:30 delivery), never the observed weather and never a later issue.

Energy (target: the apartment's kWh in hour ``t``, horizon ``h = t - I + 1`` in 1..48):
calendar (Zurich hour and weekday, weekend or Valais holiday), lags (the same hour on the last known day, i.e.
``t - 24`` for tomorrow and ``t - 48`` for the day after, and ``t - 168``), robust recent profiles (the median
of the same hour over the last 14 and 28 days, the mean over 7), the every-second-day cycle of machines run
when full (the same hour two days before, ``t - 48``, and its mean over ``t - 48k``, k = 1..7), yesterday's,
the day before's and the last week's consumption, recent
occupancy (share of the apartment's room-hours with presence over the last 24 and 72 h, hours since the last
presence), and with weather: the forecast temperature, radiation and precipitation of hour ``t`` and the
forecast's mean temperature over the 24 h up to ``t``.

Presence (target: room shows presence in hour ``t``, horizon 1..24): calendar, the room's hour-of-week frequency
(up to 8 weeks; and the same over the weeks whose day the apartment was not away), its frequency at that hour
over 14 days, the same hour yesterday, the room's and the apartment's recent presence (3, 24 and 72 h), hours
since the apartment's last presence, and the apartment's presence over the work hours of the target week's
workdays known at the issue (home-office weeks).

Baselines (computed here so they see exactly the same information): energy ``same_hour_last_week`` (``t-168``)
and ``mean_profile_4w`` (mean of ``t-168k``, k = 1..4, over the weeks known); presence ``hour_of_week``
(frequency over the same hour of the last 8 weeks).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from domotic.ml.history import History, hour_of_day_start

ENERGY_HORIZON = 48
PRESENCE_HORIZON = 24
LOCAL_TZ = "Europe/Zurich"

CALENDAR = ["horizon", "local_hour", "weekday", "day_off"]
ENERGY_BASE = ["apartment_code", *CALENDAR, "lag_last_day", "lag_week", "mean_profile_4w", "median_14d", "mean_7d",
               "kwh_last_day", "kwh_last_week", "occupancy_24h", "occupancy_72h", "hours_since_presence",
               "lag_2d", "mean_2d_cycle", "kwh_day_before", "median_28d"]
ENERGY_WEATHER = ["forecast_temperature", "forecast_radiation", "forecast_precipitation", "forecast_temperature_24h"]
PRESENCE = ["apartment_code", "room_code", *CALENDAR, "hour_of_week", "hour_freq_14d", "lag_day",
            "room_last_24h", "apartment_last_3h", "apartment_last_24h", "hours_since_presence",
            "hour_of_week_home", "apartment_last_72h", "week_daytime_home"]
ENERGY_BASELINES = ("same_hour_last_week", "mean_profile_4w")
PRESENCE_BASELINES = ("hour_of_week",)


def _known(series: np.ndarray, index: np.ndarray, issue_index: int) -> np.ndarray:
    """``series[..., index]`` where the hour was known at the issue (``index < issue_index``), NaN otherwise."""
    index = np.asarray(index)
    valid = (index >= 0) & (index < min(issue_index, series.shape[-1]))
    values = series[..., np.clip(index, 0, series.shape[-1] - 1)].astype(float)
    return np.where(valid, values, np.nan)


def _nanmean(stack: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(stack), axis=0)
    sums = np.nansum(stack, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _nanmedian(stack: np.ndarray) -> np.ndarray:
    out = np.full(stack.shape[1:], np.nan)
    has = np.any(~np.isnan(stack), axis=0)
    if has.any():
        out[has] = np.nanmedian(stack[:, has], axis=0)
    return out


def _local_days(hours: np.ndarray) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """The Zurich time of UTC hour numbers, with its date's ordinal and its week's Monday's ordinal."""
    local = pd.DatetimeIndex(pd.to_datetime(hours * 3600, unit="s", utc=True)).tz_convert(LOCAL_TZ)
    day = np.array([d.toordinal() for d in local.date])
    return local, day, day - local.dayofweek.to_numpy()


def _days_off(history: History, local: pd.DatetimeIndex, day: np.ndarray) -> np.ndarray:
    """Whether each local time falls on a Saturday, a Sunday or a Valais holiday (Gold's calendar)."""
    return (local.dayofweek.to_numpy() >= 5) | np.isin(day, [d.toordinal() for d in history.holidays])


def _calendar(history: History, target_hours: np.ndarray, issue_hour: int) -> dict[str, np.ndarray]:
    local, day, _ = _local_days(target_hours)
    return {"horizon": (target_hours - issue_hour + 1).astype(float), "local_hour": local.hour.to_numpy(float),
            "weekday": local.dayofweek.to_numpy(float),
            "day_off": _days_off(history, local, day).astype(float)}


def _days_home(occupancy: np.ndarray, issue_index: int) -> np.ndarray:
    """(apartments, days): 1 if the apartment showed presence in some hour of that UTC day, 0 if in none (away),
    NaN if the day was not wholly known at the issue."""
    days = occupancy.shape[-1] // 24
    complete = min(days, max(0, issue_index) // 24)
    out = np.full((occupancy.shape[0], days), np.nan)
    block = occupancy[:, :complete * 24].reshape(occupancy.shape[0], complete, 24)
    known = ~np.isnan(block).all(axis=-1)
    out[:, :complete] = np.where(known, np.nanmax(np.where(np.isnan(block), 0, block), axis=-1), np.nan)
    return out


def apartment_presence(history: History) -> np.ndarray:
    """(apartments, hours): 1 if some room of the apartment shows presence, 0 if none does, NaN if unknown."""
    out = np.full((len(history.apartments), history.hours), np.nan)
    owner = history.room_apartment()
    for k in range(len(history.apartments)):
        rows = history.presence[owner == k]
        if rows.size:
            known = ~np.isnan(rows).all(axis=0)
            out[k, known] = np.nanmax(rows[:, known], axis=0)
    return out


WORK_HOURS = (8, 17)  # local hours of a workday when an office worker is away and a home-office worker is not


def work_hours(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hour of the history: whether it is a work hour of a workday (08:00-17:00 local, Monday to Friday,
    not a Valais holiday), its local date and its week's Monday (ordinals)."""
    local, day, monday = _local_days(history.first_hour + np.arange(history.hours))
    hour = local.hour.to_numpy()
    return ~_days_off(history, local, day) & (hour >= WORK_HOURS[0]) & (hour < WORK_HOURS[1]), day, monday


def week_so_far(work: tuple[np.ndarray, np.ndarray, np.ndarray], series: np.ndarray, issue_index: int,
                target_hours: np.ndarray) -> np.ndarray:
    """(rows of ``series``, targets): the mean of ``series`` over the work hours of the target's week before
    the target's date and known at the issue; NaN on a Monday or when no such hour is known yet.

    Home-office and office weeks come in calendar weeks: what Monday and Tuesday were says what Wednesday is.
    """
    work_hour, day, monday = work
    _, target_day, target_monday = _local_days(target_hours)
    out = np.full((series.shape[0], target_hours.size), np.nan)
    known = work_hour & (np.arange(day.size) < issue_index)
    for key in set(zip(target_day.tolist(), target_monday.tolist(), strict=True)):
        mask = known & (monday == key[1]) & (day < key[0])
        if mask.any():
            out[:, (target_day == key[0])] = _nanmean(series[:, mask].T)[:, None]
    return out


def _hours_since(flags: np.ndarray, issue_index: int, cap: int = 168) -> float:
    """Hours from the last hour with presence before the issue to the issue (capped)."""
    seen = np.flatnonzero(flags[max(0, issue_index - cap):issue_index] == 1)
    return float(cap if seen.size == 0 else min(issue_index, cap) - seen[-1])


def _recent(series: np.ndarray, issue_index: int, hours: int) -> float:
    window = series[..., max(0, issue_index - hours):issue_index]
    return float(np.nanmean(window)) if np.any(~np.isnan(window)) else float("nan")


def _issue(history: History, issue_day: date) -> tuple[int, int]:
    issue_hour = hour_of_day_start(issue_day + timedelta(days=1))
    return issue_hour, history.index(issue_hour)


def energy_features(history: History, issue_days: list[date], horizon: int = ENERGY_HORIZON) -> pd.DataFrame:
    """One row per (issue day, apartment, target hour): features (with and without weather), baselines, and
    the actual kWh ``y`` when the history knows it (NaN for the future)."""
    frames = []
    occupancy = apartment_presence(history)
    for issue_day in issue_days:
        issue_hour, issue_index = _issue(history, issue_day)
        target_hours = issue_hour + np.arange(horizon)
        target_index = target_hours - history.first_hour
        calendar = _calendar(history, target_hours, issue_hour)
        same_hour = target_index - 24 * ((target_index - issue_index) // 24 + 1)
        hour_back = [target_index - 24 * ((target_index - issue_index) // 24 + k) for k in range(1, 29)]
        default_weather = _weather(history.weather, issue_day, target_hours)
        for k, apartment in enumerate(history.apartments):
            weather = default_weather if apartment not in history.site_weather else _weather(  # its own site
                history.weather_of(apartment), issue_day, target_hours)
            series = history.energy[k]
            weeks = np.stack([_known(series, target_index - 168 * j, issue_index) for j in range(1, 5)])
            back = np.stack([_known(series, idx, issue_index) for idx in hour_back])
            cycle = np.stack([_known(series, target_index - 48 * j, issue_index) for j in range(1, 8)])
            row = {
                "issue_day": issue_day, "apartment": apartment, "target_hour": target_hours,
                "apartment_code": float(k), **calendar,
                "lag_last_day": _known(series, same_hour, issue_index),
                "lag_week": weeks[0], "mean_profile_4w": _nanmean(weeks), "median_14d": _nanmedian(back[:14]),
                "mean_7d": _nanmean(back[:7]), "median_28d": _nanmedian(back),
                "lag_2d": cycle[0], "mean_2d_cycle": _nanmean(cycle),
                "kwh_day_before": _recent(series, issue_index - 24, 24) * 24,
                "kwh_last_day": _recent(series, issue_index, 24) * 24,
                "kwh_last_week": _recent(series, issue_index, 168) * 24,
                "occupancy_24h": _recent(history.presence[history.room_apartment() == k], issue_index, 24),
                "occupancy_72h": _recent(history.presence[history.room_apartment() == k], issue_index, 72),
                "hours_since_presence": _hours_since(occupancy[k], issue_index),
                **weather,
                "same_hour_last_week": weeks[0],
                "y": _actual(series, target_index),
            }
            frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _actual(series: np.ndarray, index: np.ndarray) -> np.ndarray:
    valid = (index >= 0) & (index < series.shape[-1])
    return np.where(valid, series[..., np.clip(index, 0, series.shape[-1] - 1)], np.nan)


def _weather(forecasts: dict[date, np.ndarray], issue_day: date, target_hours: np.ndarray
             ) -> dict[str, np.ndarray]:
    """The forecast issued on ``issue_day`` at the target hours (NaN when there is none or it is unusable)."""
    forecast = forecasts.get(issue_day)
    n = target_hours.size
    if forecast is None:
        return {name: np.full(n, np.nan) for name in ENERGY_WEATHER}
    offset = target_hours - hour_of_day_start(issue_day)
    inside = (offset >= 0) & (offset < forecast.shape[1])
    at = np.clip(offset, 0, forecast.shape[1] - 1)

    def pick(values: np.ndarray) -> np.ndarray:
        return np.where(inside, values[at], np.nan)

    temperature = forecast[0]
    window = np.stack([np.where(inside & (offset - j >= 0), temperature[np.clip(offset - j, 0, None)], np.nan)
                       for j in range(24)])
    mean_24h = np.where(np.isnan(window).any(axis=0), np.nan, np.nanmean(window, axis=0))
    return {"forecast_temperature": pick(temperature), "forecast_radiation": pick(forecast[1]),
            "forecast_precipitation": pick(forecast[2]), "forecast_temperature_24h": mean_24h}


def presence_features(history: History, issue_days: list[date], horizon: int = PRESENCE_HORIZON) -> pd.DataFrame:
    """One row per (issue day, room, target hour): features, the hour-of-week baseline and the actual ``y``."""
    frames = []
    occupancy = apartment_presence(history)
    owner = history.room_apartment()
    work = work_hours(history)
    for issue_day in issue_days:
        issue_hour, issue_index = _issue(history, issue_day)
        target_hours = issue_hour + np.arange(horizon)
        target_index = target_hours - history.first_hour
        calendar = _calendar(history, target_hours, issue_hour)
        home = _days_home(occupancy, issue_index)
        week_daytime = week_so_far(work, occupancy, issue_index, target_hours)
        week_back = target_index[None, :] - 168 * np.arange(1, 9)[:, None]
        for r, (apartment, room_key, room_name) in enumerate(history.rooms):
            series = history.presence[r]
            k = owner[r]
            weeks = np.stack([_known(series, target_index - 168 * j, issue_index) for j in range(1, 9)])
            days = np.stack([_known(series, target_index - 24 * j, issue_index) for j in range(1, 15)])
            hour_of_week = _nanmean(weeks)
            was_home = home[owner[r]][np.clip(week_back // 24, 0, home.shape[1] - 1)] == 1
            row = {
                "issue_day": issue_day, "apartment": apartment, "room_key": room_key, "room_name": room_name,
                "target_hour": target_hours, "apartment_code": float(k), "room_code": float(r), **calendar,
                "hour_of_week": hour_of_week, "hour_freq_14d": _nanmean(days), "lag_day": days[0],
                "room_last_24h": _recent(series, issue_index, 24),
                "apartment_last_3h": _recent(occupancy[k], issue_index, 3),
                "apartment_last_24h": _recent(occupancy[k], issue_index, 24),
                "hours_since_presence": _hours_since(occupancy[k], issue_index),
                "hour_of_week_home": _nanmean(np.where(was_home, weeks, np.nan)),
                "apartment_last_72h": _recent(occupancy[k], issue_index, 72),
                "week_daytime_home": week_daytime[k],
                "y": _actual(series, target_index),
            }
            frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
