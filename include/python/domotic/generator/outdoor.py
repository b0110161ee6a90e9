"""The true outdoor weather at the apartments' site (Sion), a pure function of (seed, UTC hour).

Why it exists: the sensor simulator (``generator/sensors.py``) and the forecast files (``generator/weather.py``)
must describe the same weather. A forecast file issued on day D says what the weather of D..D+5 will be, so the
weather of any future hour must be computable from the seed alone, whatever range the sensor simulator was
asked for. So the weather carries no state from one day to the next: each slow variable is a moving average
of hourly random shocks (a truncated AR(1): ``x[t] = sum_j phi^j * sigma * e[t-j]``), and the shocks of a UTC
day come from their own random stream keyed by (seed, ``STREAM_OUTDOOR``, day). Any hour is the same whether
one day or a year is generated.

Relations (documented in docs/ml.md, "What the generated data contains"):

* temperature: seasonal mean (coldest mid-January, warmest mid-July) + a daily cycle peaking mid-afternoon
  solar time + a slow anomaly (sd ~2.5 °C, correlation ~1.5 days) - cooling by clouds in sunshine;
* clouds: a latent variable (correlation ~10 h); cover = logistic(2 * latent);
* global radiation and daylight: the sun's elevation (NOAA approximation) dimmed by the cloud cover;
* precipitation: only when the latent cloudiness is high (rain showers under thick cloud);
* humidity: higher when it is cooler than the day's mean and under clouds;
* pressure: a slow walk around 1013 hPa.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

STREAM_OUTDOOR: Final = 9  # (seed, stream, UTC day): the hourly weather shocks (a stream of generator/sensors.py)
SION_LAT, SION_LON = 46.233, 7.360
_EPOCH_1970 = datetime(1970, 1, 1, tzinfo=UTC)

# (phi, sigma, number of hourly lags kept) of each slow variable's moving average.
_PRESSURE = (0.98, 0.7, 168)
_ANOMALY = (0.97, 0.6, 150)
_CLOUD = (0.9, 0.5, 48)
_MAX_LAG_DAYS = 7  # the longest moving average reaches this many days back (168 h)


@dataclass(frozen=True)
class Outdoor:
    """Hourly truth over ``hours`` consecutive UTC hours from ``first_hour`` (hours since 1970-01-01)."""

    first_hour: int
    temperature: np.ndarray  # °C
    cloud_latent: np.ndarray  # cover = logistic(2 * latent)
    sun: np.ndarray  # max(sin(solar elevation), 0)
    pressure: np.ndarray  # hPa at sea level
    seasonal_mean: np.ndarray  # °C, the temperature the season alone would give
    anomaly: np.ndarray  # °C, the slow departure from the season

    @property
    def cloud(self) -> np.ndarray:
        return cloud_cover(self.cloud_latent)

    @property
    def radiation_wm2(self) -> np.ndarray:
        return radiation(self.sun, self.cloud)

    @property
    def precipitation_mm(self) -> np.ndarray:
        return precipitation(self.cloud_latent)

    @property
    def humidity_pct(self) -> np.ndarray:
        return humidity(self.temperature, self.seasonal_mean, self.cloud)


def cloud_cover(latent: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-2 * latent))


def radiation(sun: np.ndarray, cloud: np.ndarray) -> np.ndarray:
    """Global radiation (W/m²) from the sun's elevation and the cloud cover (1,000 W/m² ~ 110,000 lux)."""
    return 1000.0 * sun**1.2 * (1 - 0.75 * cloud)


def precipitation(latent: np.ndarray) -> np.ndarray:
    """mm per hour: showers only under thick cloud (latent cloudiness above 0.8)."""
    return np.clip(latent - 0.8, 0.0, None) * 1.2


def humidity(temperature: np.ndarray, seasonal_mean: np.ndarray, cloud: np.ndarray) -> np.ndarray:
    return np.clip(70 - 2.2 * (temperature - seasonal_mean) + 12 * (cloud - 0.5), 30, 98)


def _shocks(seed: int, first_day: int, days: int) -> np.ndarray:
    """(3, 24 * days) hourly standard normal shocks of (pressure, anomaly, cloud), one stream per UTC day."""
    return np.concatenate(
        [np.random.default_rng([seed, STREAM_OUTDOOR, day]).standard_normal((3, 24)) for day in
         range(first_day, first_day + days)], axis=1)


def _moving_average(shocks: np.ndarray, spec: tuple[float, float, int], hours: int) -> np.ndarray:
    """The last ``hours`` values of ``sum_j phi^j * sigma * e[t-j]`` (j < lags) over the shock series."""
    phi, sigma, lags = spec
    weights = sigma * phi ** np.arange(lags)
    full = np.convolve(shocks, weights)[: shocks.size]
    return full[-hours:]


def sun_factor(hours_utc: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """max(sin(solar elevation), 0) at Sion at fractional UTC hours of the given days of the year."""
    g = 2 * np.pi / 365.0 * (day_of_year - 1 + (hours_utc - 12) / 24)
    eqtime = 229.18 * (0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g) - 0.014615 * np.cos(2 * g)
                       - 0.040849 * np.sin(2 * g))
    decl = (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))
    true_solar = hours_utc * 60 + eqtime + 4 * SION_LON
    hour_angle = np.radians(true_solar / 4 - 180)
    lat = np.radians(SION_LAT)
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    return np.clip(sin_elev, 0.0, 1.0)


def seasonal(day_of_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The season's mean temperature and daily amplitude (°C) at Sion."""
    phase = np.cos(2 * np.pi * (day_of_year - 200) / 365.25)
    return 13.0 + 9.0 * phase, 4.5 + 1.5 * phase


def hourly(seed: int, first_hour: int, hours: int) -> Outdoor:
    """The true weather of ``hours`` UTC hours from ``first_hour`` (hours since 1970-01-01), deterministic."""
    first_day = first_hour // 24 - _MAX_LAG_DAYS
    last_day = (first_hour + hours - 1) // 24
    shocks = _shocks(seed, first_day, last_day - first_day + 1)
    end = first_hour + hours - first_day * 24  # shocks up to (excluding) this index belong to the range
    pressure = 1013.0 + _moving_average(shocks[0, :end], _PRESSURE, hours)
    anomaly = _moving_average(shocks[1, :end], _ANOMALY, hours)
    cloud_latent = _moving_average(shocks[2, :end], _CLOUD, hours)
    stamps = first_hour + np.arange(hours)
    hour_of_day = (stamps % 24).astype(float)
    day_of_year = np.array([(_EPOCH_1970 + timedelta(hours=int(h))).timetuple().tm_yday for h in stamps],
                           dtype=float)
    sun = sun_factor(hour_of_day, day_of_year)
    seasonal_mean, _ = seasonal(day_of_year)
    temperature = temperature_at(hour_of_day * 60, day_of_year, anomaly, cloud_cover(cloud_latent), sun)
    return Outdoor(first_hour, temperature, cloud_latent, sun, pressure, seasonal_mean, anomaly)


def temperature_at(minute_of_day: np.ndarray, day_of_year: np.ndarray | float, anomaly: np.ndarray,
                   cloud: np.ndarray, sun: np.ndarray) -> np.ndarray:
    """°C: season + daily cycle (warmest mid-afternoon solar time) + anomaly - cooling by clouds in sunshine."""
    seasonal_mean, amplitude = seasonal(np.asarray(day_of_year, dtype=float))
    solar_minutes = (minute_of_day + 4 * SION_LON) % 1440
    daily_cycle = np.cos(2 * np.pi * (solar_minutes - 900) / 1440)
    return np.clip(seasonal_mean + amplitude * daily_cycle + anomaly - 1.5 * cloud * sun, -15.0, 35.0)


@dataclass(frozen=True)
class MinuteWeather:
    """One UTC day, per minute: what the sensor simulator shows (the hourly truth, interpolated)."""

    lux: np.ndarray
    temperature: np.ndarray
    humidity: np.ndarray  # without sensor noise
    pressure: np.ndarray
    cloud: np.ndarray


def minute_weather(seed: int, day_abs: int) -> MinuteWeather:
    """The 1,440 minutes of UTC day ``day_abs``: slow variables interpolated between the hourly values (the
    hour 24 knot is the next day's first hour, so days join), sun and temperature computed per minute."""
    knots = hourly(seed, day_abs * 24, 25)
    minute = np.arange(1440, dtype=float)
    hour = minute / 60.0
    grid = np.arange(25, dtype=float)
    anomaly = np.interp(hour, grid, knots.anomaly)
    cloud = cloud_cover(np.interp(hour, grid, knots.cloud_latent))
    pressure = np.interp(hour, grid, knots.pressure)
    day_of_year = float((_EPOCH_1970 + timedelta(days=day_abs)).timetuple().tm_yday)
    sun = sun_factor(hour, np.full(1440, day_of_year))
    temperature = temperature_at(minute, day_of_year, anomaly, cloud, sun)
    seasonal_mean, _ = seasonal(np.asarray(day_of_year))
    return MinuteWeather(lux=110_000 * sun**1.2 * (1 - 0.75 * cloud), temperature=temperature,
                         humidity=humidity(temperature, seasonal_mean, cloud), pressure=pressure, cloud=cloud)


def hour_of(moment: datetime) -> int:
    """Hours since 1970-01-01 UTC of an aware datetime (floored)."""
    return int(moment.astimezone(UTC).timestamp()) // 3600


def trailing_mean_temperature(seed: int, day_abs: int) -> np.ndarray:
    """Per minute of UTC day ``day_abs``: the mean outdoor temperature of the preceding 24 hours (°C), what a
    building's thermal mass and a heating controller's outdoor sensor respond to."""
    temps = hourly(seed, day_abs * 24 - 24, 49).temperature
    trailing = np.convolve(temps, np.ones(24) / 24, mode="valid")  # trailing[k] = mean(temps[k:k+24])
    return np.interp(np.arange(1440) / 60.0, np.arange(trailing.size, dtype=float), trailing)
