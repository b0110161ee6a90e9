"""Deterministic, realistic generator of the sensor JSON files (legacy-system.md section 1).

Why it exists: the original share is a static historical set we cannot ship, yet every layer of the pipeline
(file sensor, Bronze, Silver flattening, Gold energy from cumulative counters, quarantine, re-deliveries) needs
input that looks and misbehaves like it. This module produces one file per apartment per minute, named and
shaped exactly as the contract says, with signals that hang together (people at home drive motion, doors,
CO2, light, noise and plug power) and with faults switched on by rate, so tests know precisely what to expect.

Map of the simulation
---------------------

Two apartments (:data:`APARTMENTS`, fixed device inventories) are simulated by :class:`SensorSimulator`, one
UTC day (1,440 minutes, as arrays) at a time, in this order:

1. **Day context**, shared by both apartments (``SensorSimulator._context``): the Zurich local date and minute
   of every UTC minute, the file-name and payload labels in ``source_tz``, and the weather
   (``_simulate_weather`` reads ``generator/outdoor.py``: pressure, temperature anomaly and clouds are moving
   averages of hourly shocks, a pure function of (seed, hour) that the forecast files share; outdoor
   temperature, humidity and daylight follow from season, sun and clouds).
2. **Behaviour**, per apartment and local date (``_BehaviourPlanner``, stateless): the apartment's
   ``_Persona`` gives a ``_DayPlan`` (wake and bed, office or home-office day (home office comes in remote
   weeks: ``_home_office_p``), outings, showers, TV, evening PC,
   cooking, the night boiler, dishwasher/washer/dryer cycles), turned into per-minute feature columns
   (``COL_OCCUPANCY`` AWAY/HOME/ASLEEP, ``COL_WORKING_FROM_HOME``, ...). ``_ApartmentModel._activity`` reads
   them onto the UTC minutes as an ``_Activity``.
3. **Physics and sensors**, per apartment and UTC day (``_ApartmentModel.simulate_day``), each step a method:
   motion per room; door and window contacts; indoor temperatures (daily cycle, outdoors, drift, open
   windows, cooking, showers); plug power (TV, PC, machine cycles, standby); plug counters (with their rare
   resets) and plug temperatures; contact batteries; light and motion-sensor temperatures; indoor air
   (occupants' CO2, moisture); the Netatmo stations; the humidity sensors; the three-phase house meter (base
   loads plus every plug). Slow quantities (temperatures, CO2, moisture, counters, open windows, voltages)
   carry over midnight in ``_ApartmentState``. The result, an ``_ApartmentDay``, holds per-minute Python
   lists; ``payload(i, label)`` builds minute ``i``'s dict from them.
4. **Delivery**: :func:`write_range` (through ``_RangeWriter``) writes each apartment-minute file, with the
   faults of :class:`Faults` chosen per file by rate and listed in a :class:`Report`; ``generator/live.py``
   plays :meth:`SensorSimulator.step` in real time instead.

Random streams
--------------

Every random number comes from a ``numpy`` generator keyed by (seed, stream, ...) (``_rng``), never from one
running generator:

=========================== =========================== ====================================================
stream                      rest of the key             drives
=========================== =========================== ====================================================
``STREAM_DAY_PLAN``         apartment, local date       the day plan (step 2) except the machine cycles
``STREAM_APPLIANCE_CYCLES`` apartment, local date       dishwasher, washer and dryer runs and their profiles
``STREAM_SENSOR_DAY``       UTC day, apartment          every draw of step 3, in the order of its steps
``STREAM_WEATHER``          UTC day                     the outdoor humidity's minute noise (step 1)
``STREAM_OUTDOOR``          UTC day                     the weather's hourly shocks (``generator/outdoor.py``)
``STREAM_ABSENCES``         apartment, ISO week         weekends and weeks away (step 2)
``STREAM_WORK_WEEKS``       apartment, ISO week         remote (home-office) or office week (step 2)
``STREAM_DEVICE_CONSTANTS`` apartment                   battery phases and drain rates, sensor biases
``STREAM_INITIAL_STATE``    apartment                   the plug counters' starting values
``STREAM_FAULT_CHOICE``     UTC day                     which faults hit each file (4 uniforms per file)
``STREAM_FAULT_DETAIL``     absolute minute, apartment  what a chosen fault breaks in that file
=========================== =========================== ====================================================

Why separate streams: changing one feature must not shift the random numbers of the others. A new draw in
the machine cycles leaves every day plan as it was, enabling a fault leaves the clean values of every minute,
and skipping the writing of early days leaves the later ones unchanged. Within one stream the order of the
draws is part of the output: a draw added in the middle of ``simulate_day`` changes every later value of that
apartment-day, so a new feature should get its own stream (a new number; never renumber the existing ones).

Design choices, and why:

* Simulation is sequential in UTC days from ``history_start`` (minus one day, so any source time zone's first
  local midnight is covered). State that must persist (counters, CO2, open windows, weather) carries from one
  day to the next, so generating days N..M with the same ``history_start`` gives byte-identical files to
  generating 0..M and keeping N..M.
* Work is vectorised per day (1,440 minutes at once); the per-minute cost is building a dict from prepared
  Python lists, ``orjson`` serialisation and one open/write/utime/close, so 200k files take seconds.
* Human behaviour and the sun always follow Europe/Zurich (the apartments are in Valais); ``source_tz`` only
  changes how the minute is *labelled* (file name and payload ``datetime``), like the real devices' clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from domotic.generator import outdoor

# --------------------------------------------------------------------------------------------------------------
# Inventories (public: tests and other modules import them)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inventory:
    """The fixed device inventory of one apartment, in the raw spellings the source uses.

    ``doors_windows`` maps a room to its contacts' types in list order (two of the same type in one room is
    deliberate: Silver must keep both). ``meteo_modules`` are the battery-powered Netatmo modules (no Noise or
    Pressure; ``Outdoor`` has no CO2 either); ``meteo_main`` is the mains-powered base station.
    """

    handle: str
    apartment: str
    api_token: str
    plugs: tuple[str, ...]
    doors_windows: Mapping[str, tuple[str, ...]]
    motions: tuple[str, ...]
    meteo_main: str
    meteo_modules: tuple[str, ...]
    humidities: tuple[str, ...]
    consumptions: tuple[str, ...] = ("House",)

    @property
    def meteo_stations(self) -> tuple[str, ...]:
        """All stations in payload order, main station first."""
        return (self.meteo_main, *self.meteo_modules)

    @property
    def contacts(self) -> tuple[tuple[str, int, str], ...]:
        """(room, position in the room's list, type) of every door/window contact."""
        return tuple(
            (room, pos, kind) for room, kinds in self.doors_windows.items() for pos, kind in enumerate(kinds)
        )


APARTMENTS: Final[Mapping[str, Inventory]] = MappingProxyType(
    {
        "JimmyLoup": Inventory(
            handle="JimmyLoup",
            apartment="jimmy",
            api_token="tok_5f2c8e1a9d3b4c70",
            plugs=("Livingroom", "Office", "Dishwasher"),
            doors_windows=MappingProxyType(
                {
                    "Bdroom": ("Window", "Door"),
                    "Bhroom": ("Door",),
                    "Office": ("Window", "Door"),
                    "Livingroom": ("Door",),
                }
            ),
            motions=("Livingroom", "Office", "Bdroom", "Kitchen"),
            meteo_main="Livingroom",
            meteo_modules=("Office", "Bdroom", "Outdoor"),
            humidities=("Bhroom",),
        ),
        "JeremieVianin": Inventory(
            handle="JeremieVianin",
            apartment="jeremie",
            api_token="tok_9b41e0c2d7a84f6f",
            plugs=("Livingroom", "Office", "WashingMachine", "Dryer"),
            doors_windows=MappingProxyType(
                {
                    "Bdroom": ("Window", "Door"),
                    "Bhroom": ("Door", "Window"),
                    "Kitchen": ("Window", "Window"),
                }
            ),
            motions=("Livingroom", "Kitchen", "Laundry", "Bhroom"),
            meteo_main="Livingroom",
            meteo_modules=("Bdroom", "Outdoor"),
            humidities=("Bhroom", "Laundry"),
        ),
    }
)
HANDLES: Final[tuple[str, ...]] = tuple(APARTMENTS)

# Pools the synthetic apartments (index >= 2, scale tests) draw their inventories from, in the source's spellings.
_SYNTHETIC_PLUGS = ("Livingroom", "Office", "Dishwasher", "WashingMachine", "Dryer")
_SYNTHETIC_ROOMS = ("Bdroom", "Bhroom", "Office", "Livingroom", "Kitchen", "Laundry")
_SYNTHETIC_MODULES = ("Office", "Bdroom")


def synthetic_inventory(index: int) -> Inventory:
    """A deterministic inventory for simulated apartment ``index`` >= 2 (scale tests): owner handle
    ``Owner<index:04d>`` (apartment id ``owner<index:04d>``, as the registry derives it), 2-5 plugs, 2-4 rooms
    with 1-2 contacts, 2-4 motion sensors, 1-2 indoor modules plus the outdoor one, 0-2 humidity sensors. The
    same index always gives the same inventory, whatever the seed of the simulation."""
    if index < len(APARTMENTS):
        raise ValueError(f"apartments 0..{len(APARTMENTS) - 1} are the fixed ones of APARTMENTS, not {index}")
    rng = np.random.default_rng([0x1A27, index])

    def pick(pool: tuple[str, ...], low: int, high: int) -> tuple[str, ...]:
        count = int(rng.integers(low, high + 1))
        return tuple(pool[int(i)] for i in sorted(rng.choice(len(pool), size=count, replace=False)))

    contacts = {room: tuple(("Window", "Door")[int(k)] for k in rng.integers(0, 2, int(rng.integers(1, 3))))
                for room in pick(_SYNTHETIC_ROOMS, 2, 4)}
    return Inventory(
        handle=f"Owner{index:04d}",
        apartment=f"owner{index:04d}",
        api_token=f"tok_{int(rng.integers(0, 2**62)):016x}",
        plugs=pick(_SYNTHETIC_PLUGS, 2, 5),
        doors_windows=MappingProxyType(contacts),
        motions=pick(_SYNTHETIC_ROOMS, 2, 4),
        meteo_main="Livingroom",
        meteo_modules=(*pick(_SYNTHETIC_MODULES, 1, 2), OUTDOOR),
        humidities=pick(("Bhroom", "Laundry"), 0, 2),
    )


def inventories(count: int = len(APARTMENTS)) -> tuple[Inventory, ...]:
    """The inventories of ``count`` simulated apartments: the two of :data:`APARTMENTS` first (the demo's), then
    :func:`synthetic_inventory` for each further index."""
    if count < 1:
        raise ValueError(f"at least one apartment, not {count}")
    fixed = tuple(APARTMENTS.values())
    return fixed[:count] + tuple(synthetic_inventory(i) for i in range(len(fixed), count))

OUTDOOR: Final = "Outdoor"
MAIN_STATION_KEYS: Final = ("Temperature", "CO2", "Humidity", "Noise", "Pressure", "AbsolutePressure")
MODULE_KEYS: Final = ("Temperature", "CO2", "Humidity", "battery_percent")
OUTDOOR_KEYS: Final = ("Temperature", "Humidity", "battery_percent")
HOUSE_KEYS: Final = (
    "total_power",
    "power1",
    "power2",
    "power3",
    "current1",
    "current2",
    "current3",
    "voltage1",
    "voltage2",
    "voltage3",
    "pf1",
    "pf2",
    "pf3",
)
# House keys that become Silver readings (the power factors are not stored, design.md section 4).
HOUSE_READING_KEYS: Final = HOUSE_KEYS[:10]


def station_keys(inventory: Inventory, station: str) -> tuple[str, ...]:
    """The Netatmo keys a station carries, in payload order."""
    if station == inventory.meteo_main:
        return MAIN_STATION_KEYS
    return OUTDOOR_KEYS if station == OUTDOOR else MODULE_KEYS


def readings_per_file(handle: str) -> int:
    """Silver readings one clean file of this apartment flattens to (design.md section 4).

    Plugs 3 each (power, total, temperature), contacts 2 each (open, battery), motions 3, meteo one per key,
    humidities 3, consumption 10. JimmyLoup gives 63, JeremieVianin 65: within the 50–65 the original
    measured (legacy-system.md section 1.6; the 49 of the documentation example is a smaller inventory).
    """
    inv = APARTMENTS[handle] if handle in APARTMENTS else _synthetic_by_handle(handle)
    meteo = sum(len(station_keys(inv, s)) for s in inv.meteo_stations)
    return (
        3 * len(inv.plugs)
        + 2 * len(inv.contacts)
        + 3 * len(inv.motions)
        + meteo
        + 3 * len(inv.humidities)
        + len(HOUSE_READING_KEYS) * len(inv.consumptions)
    )


def _synthetic_by_handle(handle: str) -> Inventory:
    if not (handle.startswith("Owner") and handle[5:].isdigit()):
        raise KeyError(handle)
    return synthetic_inventory(int(handle[5:]))


# --------------------------------------------------------------------------------------------------------------
# Names and clocks
# --------------------------------------------------------------------------------------------------------------

ZURICH: Final = ZoneInfo("Europe/Zurich")
_EPOCH_1970 = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTES_PER_DAY = 1440
_MINUTE_OF_DAY = np.arange(_MINUTES_PER_DAY)
_HOUR_OF_MINUTE = _MINUTE_OF_DAY / 60.0
_HOURLY_KNOTS = np.arange(25, dtype=float)  # 00:00..24:00, the knots of hourly random walks
_TWO_DIGIT_MINUTES = tuple(f"{m:02d}" for m in range(60))


def _zone(name: str) -> ZoneInfo | None:
    return None if name.upper() == "UTC" else ZoneInfo(name)


def to_abs_minute(moment: datetime) -> int:
    """Minutes since 1970-01-01 UTC (floored); a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) // 60


def from_abs_minute(minute: int) -> datetime:
    """The aware UTC datetime of an absolute minute."""
    return _EPOCH_1970 + timedelta(minutes=minute)


def file_name(handle: str, minute_utc: datetime, source_tz: str = "UTC") -> str:
    """``DD.MM.YYYY HHMM_<handle>_received.json`` for a UTC minute, labelled in ``source_tz``."""
    zone = _zone(source_tz)
    aware = minute_utc if minute_utc.tzinfo else minute_utc.replace(tzinfo=UTC)
    local = aware.astimezone(zone or UTC)
    return f"{local:%d.%m.%Y %H%M}_{handle}_received.json"


def _labels_for_day(day_abs: int, source_tz: ZoneInfo | None) -> tuple[list[str], list[str]]:
    """Per-minute file-name prefixes ``DD.MM.YYYY HHMM`` and payload labels ``DD.MM.YYYY HH:MM``.

    The UTC offset is looked up once per UTC hour (zone transitions happen on whole UTC hours in Europe),
    which keeps this at 24 ``zoneinfo`` calls per day instead of 1,440.
    """
    names: list[str] = []
    labels: list[str] = []
    start = _EPOCH_1970 + timedelta(days=day_abs)
    for hour in range(24):
        utc_hour = start + timedelta(hours=hour)
        local = (utc_hour.astimezone(source_tz) if source_tz else utc_hour).replace(tzinfo=None)
        if local.minute == 0:  # whole-hour offset: one stem for the 60 minutes
            stem = f"{local.day:02d}.{local.month:02d}.{local.year:04d} {local.hour:02d}"
            names += [stem + minute for minute in _TWO_DIGIT_MINUTES]
            labels += [f"{stem}:{minute}" for minute in _TWO_DIGIT_MINUTES]
            continue
        for minute in range(60):  # an offset with minutes (none in Europe today): label each minute
            moment = local + timedelta(minutes=minute)
            stem = f"{moment.day:02d}.{moment.month:02d}.{moment.year:04d} {moment.hour:02d}"
            names.append(f"{stem}{moment.minute:02d}")
            labels.append(f"{stem}:{moment.minute:02d}")
    return names, labels


# --------------------------------------------------------------------------------------------------------------
# Random streams
# --------------------------------------------------------------------------------------------------------------

# Stream ids, the second element of every ``_rng`` key. The values are part of the output: renumbering a stream
# changes every number it draws, so never reuse or reorder them; add new streams with new numbers.
STREAM_DAY_PLAN: Final = (
    1  # key (seed, stream, apartment, local date): wake, bed, outings, showers, TV, meals
)
STREAM_SENSOR_DAY: Final = 2  # (seed, stream, UTC day, apartment): motion, contacts, drift, plug loads, noise
STREAM_WEATHER: Final = 3  # (seed, stream, UTC day): pressure, temperature anomaly, clouds, outdoor humidity
STREAM_DEVICE_CONSTANTS: Final = 4  # (seed, stream, apartment): battery phases and drain rates, sensor biases
STREAM_FAULT_CHOICE: Final = 5  # (seed, stream, UTC day): 4 uniforms per file choose its faults
STREAM_FAULT_DETAIL: Final = 6  # (seed, stream, absolute minute, apartment): what a chosen fault breaks
STREAM_APPLIANCE_CYCLES: Final = 7  # (seed, stream, apartment, local date): dishwasher, washer, dryer runs
STREAM_INITIAL_STATE: Final = 8  # (seed, stream, apartment): starting plug counters
STREAM_OUTDOOR: Final = outdoor.STREAM_OUTDOOR  # 9, (seed, stream, UTC day): the weather's hourly shocks
STREAM_ABSENCES: Final = 10  # (seed, stream, apartment, ISO week): weekends and weeks away
STREAM_WORK_WEEKS: Final = 11  # (seed, stream, apartment, ISO week): remote or office week


def _rng(*key: int) -> np.random.Generator:
    """An independent generator per (seed, stream, ...) key: no draw ever shifts another stream."""
    return np.random.default_rng([int(k) for k in key])


# --------------------------------------------------------------------------------------------------------------
# Behaviour: one plan per apartment and local (Zurich) date, stateless
# --------------------------------------------------------------------------------------------------------------

# Occupancy of a minute (the COL_OCCUPANCY feature).
AWAY, HOME, ASLEEP = 0, 1, 2


@dataclass(frozen=True)
class _Persona:
    """Habits of one apartment's occupants; times are local minutes of the day, ``_sd`` standard deviations."""

    wake_weekday: float
    wake_weekend: float
    wake_sd: float
    bed: float  # Sunday to Thursday; an hour later on Friday and Saturday nights
    bed_sd: float
    remote_week_p: float  # probability that an ISO week is a remote week (most weekdays worked from home)
    home_office_p: float  # probability that a weekday of an office week is a home-office day anyway
    return_mean: float  # coming home from the office
    return_sd: float
    evening_out_p: float  # probability of going out on a weekday evening
    showers: int  # morning showers (people in the apartment)


_PERSONAS = (
    _Persona(405, 525, 20, 1380, 35, 0.30, 0.08, 1080, 45, 0.15, 1),  # jimmy: early riser, often works from home
    _Persona(420, 540, 25, 1395, 40, 0.15, 0.08, 1110, 50, 0.20, 2),  # jeremie: two people, laundry machines
)

# Feature columns of a local day: rows of a (N_FEATURE_COLUMNS, 1440) float array indexed by local minute of day.
# Flags are stored as 0.0/1.0.
(
    COL_OCCUPANCY,  # AWAY, HOME or ASLEEP
    COL_WORKING_FROM_HOME,  # at home on a home-office day, 08:00-17:00
    COL_TV_ON,  # evening TV (living-room plug)
    COL_PC_ON,  # office PC: working from home, or an evening session
    COL_SHOWER_RUNNING,  # someone in the shower (0/1 even when two showers overlap)
    COL_COOKING_WATTS,  # stove and coffee machine power, W (on phase 2 of the house meter)
    COL_AFTER_WAKING,  # the 45 minutes after getting up (bedroom window and door, bathroom)
    COL_BEFORE_BED,  # the 40 minutes before going to bed
    COL_BOILER_HEATING,  # the night-tariff water boiler heats (2 kW on phase 3)
    COL_WEEKEND,  # Saturday or Sunday
) = range(10)
N_FEATURE_COLUMNS = 10


@dataclass(frozen=True)
class _DayPlan:
    """What the occupants do on one local date; minutes are local minutes of that date (bed may pass 1440).

    Spans are (start, duration) unless named otherwise; ``away`` holds (leave, back) pairs.
    """

    wake: int
    bed: int
    away: tuple[tuple[int, int], ...]
    home_office: bool
    tv: tuple[int, int] | None
    pc_evening: tuple[int, int] | None
    showers: tuple[tuple[int, int], ...]
    cooking: tuple[tuple[int, int, float], ...]  # (start, duration, W)
    boiler: tuple[int, int]
    cycles: tuple[tuple[str, int, np.ndarray], ...]  # (plug, local start minute, power profile W)


@dataclass(frozen=True)
class _LocalDay:
    features: np.ndarray  # (N_FEATURE_COLUMNS, 1440)
    cycles: tuple[tuple[str, int, np.ndarray], ...]  # (plug, absolute UTC start minute, profile)


class _PlanUniforms(NamedTuple):
    """The 16 uniforms drawn first from a day plan's stream, one per decision (the last two are spare).

    Drawn as one batch so that the decisions taken from them never shift the later draws of the plan.
    """

    home_office: float
    lunch_out_or_leave_time: float  # home-office day: out for lunch (< 0.35); office day: when leaving
    lunch_start: float
    lunch_length: float
    evening_out: float
    evening_out_start: float
    evening_out_length: float
    day_trip: float
    weekend_outings: float  # 0, 1 or 2 outings on a weekend day without a trip
    shower_start: float
    shower_length: float
    second_shower_gap: float
    second_shower_length: float
    evening_shower: float
    spare_1: float
    spare_2: float


def _wake_and_bed(rng: np.random.Generator, persona: _Persona, weekday: int) -> tuple[int, int]:
    """Wake-up (05:00-12:00) and bedtime (21:30-02:00) local minutes; later bed on Friday and Saturday."""
    weekend = weekday >= 5
    wake_mean = persona.wake_weekend if weekend else persona.wake_weekday
    wake = int(np.clip(rng.normal(wake_mean, persona.wake_sd), 300, 720))
    bed_mean = persona.bed + (60 if weekday in (4, 5) else 0)
    bed = int(np.clip(rng.normal(bed_mean, persona.bed_sd), 1290, 1560))
    return wake, bed


def _outings(
    rng: np.random.Generator, u: _PlanUniforms, persona: _Persona, weekend: bool, wake: int, bed: int,
    home_office_p: float,
) -> tuple[bool, tuple[tuple[int, int], ...]]:
    """Whether the day is a home-office day, and the (leave, back) spans away from home.

    Weekdays: an office day (leave after breakfast, back in the evening) or a home-office day (maybe out for
    lunch), maybe out in the evening. Weekends: rarely a day trip, otherwise up to two outings. Spans are kept
    at least 10 minutes after waking and before bed (or midnight).
    """
    away: list[tuple[int, int]] = []
    home_office = False
    if not weekend:
        home_office = bool(u.home_office < home_office_p)
        if home_office:
            if u.lunch_out_or_leave_time < 0.35:
                away.append((720 + int(u.lunch_start * 20), 780 + int(u.lunch_length * 30)))
        else:
            leave = wake + 40 + int(u.lunch_out_or_leave_time * 50)
            back = int(np.clip(rng.normal(persona.return_mean, persona.return_sd), leave + 360, bed - 60))
            away.append((leave, back))
        if u.evening_out < persona.evening_out_p:
            start = 1170 + int(u.evening_out_start * 60)
            away.append((start, start + 120 + int(u.evening_out_length * 90)))
    elif u.day_trip < 0.08:
        away.append((wake + 60, 1230))  # day trip
    else:
        for _ in range(int(u.weekend_outings * 3)):
            start = 600 + int(rng.integers(0, 420))
            away.append((start, start + int(rng.integers(60, 240))))
    day_end = min(bed, _MINUTES_PER_DAY)
    clipped = sorted((max(leave, wake + 10), min(back, day_end - 10)) for leave, back in away)
    return home_office, tuple((leave, back) for leave, back in clipped if back > leave)


def _showers(
    rng: np.random.Generator, u: _PlanUniforms, persona: _Persona, wake: int, bed: int
) -> tuple[tuple[int, int], ...]:
    """Morning shower(s) after waking, one per person, and sometimes a shower before bed."""
    showers = [(wake + 5 + int(u.shower_start * 20), 8 + int(u.shower_length * 7))]
    if persona.showers > 1:
        second_start = showers[0][0] + 20 + int(u.second_shower_gap * 15)
        showers.append((second_start, 8 + int(u.second_shower_length * 7)))
    if u.evening_shower < 0.3:
        showers.append((bed - 40 - int(rng.integers(0, 50)), 10))
    return tuple(showers)


def _evening_screens(rng: np.random.Generator) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """An evening of TV (70 % of days) and an evening PC session (30 %), as (start, duration)."""
    tv = (int(rng.integers(1170, 1260)), int(rng.integers(90, 210))) if rng.random() < 0.7 else None
    pc_evening = (int(rng.integers(1200, 1290)), int(rng.integers(30, 120))) if rng.random() < 0.3 else None
    return tv, pc_evening


def _cooking(rng: np.random.Generator, wake: int, lunch_at_home: bool) -> tuple[tuple[int, int, float], ...]:
    """(start, duration, W): the morning coffee, dinner most days, lunch on some days spent at home."""
    cooking = [(wake + 10 + int(rng.integers(0, 20)), 3, 1300.0)]  # coffee machine
    if rng.random() < 0.75:
        cooking.append(
            (int(rng.integers(1080, 1170)), int(rng.integers(20, 50)), float(rng.uniform(1200, 2400)))
        )
    if lunch_at_home and rng.random() < 0.5:  # no draw at all on office days
        cooking.append(
            (int(rng.integers(710, 750)), int(rng.integers(15, 30)), float(rng.uniform(1000, 2000)))
        )
    return tuple(cooking)


def _segments(rng: np.random.Generator, spec: Iterable[tuple[int, int, float, float]]) -> np.ndarray:
    """A power profile from (min len, max len, low W, high W) segments, each at a level with 2 % jitter."""
    parts = []
    for lo_len, hi_len, lo_w, hi_w in spec:
        n = int(rng.integers(lo_len, hi_len + 1))
        level = rng.uniform(lo_w, hi_w)
        parts.append(level * (1.0 + rng.normal(0.0, 0.02, n)))
    return np.concatenate(parts)


def _dishwasher_profile(rng: np.random.Generator) -> np.ndarray:
    # prewash pump, main heat, wash, rinse heat, rinse, drying: ~2 h, two 2 kW heating phases.
    return _segments(
        rng,
        (
            (8, 14, 60, 150),
            (18, 24, 1900, 2150),
            (25, 35, 70, 140),
            (12, 18, 1950, 2150),
            (15, 22, 80, 120),
            (20, 30, 8, 25),
        ),
    )


def _washer_profile(rng: np.random.Generator) -> np.ndarray:
    # fill, heat, wash (motor), rinse, spin: ~1.5 h.
    base = _segments(
        rng, ((4, 6, 10, 30), (12, 18, 2000, 2200), (35, 45, 150, 250), (12, 18, 80, 200), (8, 12, 450, 700))
    )
    wash_noise = rng.uniform(0.0, 250.0, base.size)  # drum reversals
    return base + wash_noise * (base < 300)


def _dryer_profile(rng: np.random.Generator) -> np.ndarray:
    # heating with thermostat dips, then cool-down: 75–110 min at 500–2200 W.
    heat = _segments(rng, ((65, 95, 2000, 2200),))
    heat[(np.arange(heat.size) % 11) >= 9] = rng.uniform(500, 700)
    return np.concatenate([heat, _segments(rng, ((10, 15, 250, 350),))])


def _appliance_cycles(
    rng: np.random.Generator, plugs: tuple[str, ...], weekend: bool, ordinal: int
) -> tuple[tuple[str, int, np.ndarray], ...]:
    """(plug, local start minute, W profile) of the machines run that date, from their own stream.

    Dishwasher after dinner when it is full: every second day (85 % of those dates; 8 % of the others, when
    guests filled it early), so whether it ran yesterday says something about today. Washing machine (weekend
    days or weekday evenings), followed by the dryer three times in four.
    """
    cycles: list[tuple[str, int, np.ndarray]] = []
    if "Dishwasher" in plugs and rng.random() < (0.85 if ordinal % 2 == 0 else 0.08):
        cycles.append(("Dishwasher", int(rng.integers(1200, 1350)), _dishwasher_profile(rng)))
    if "WashingMachine" in plugs and rng.random() < (0.5 if weekend else 0.2):
        start = int(rng.integers(540, 1080) if weekend else rng.integers(1110, 1230))
        profile = _washer_profile(rng)
        cycles.append(("WashingMachine", start, profile))
        if "Dryer" in plugs and rng.random() < 0.75:
            cycles.append(("Dryer", start + profile.size + int(rng.integers(5, 45)), _dryer_profile(rng)))
    return tuple(cycles)


def _occupancy(plan: _DayPlan, previous: _DayPlan) -> np.ndarray:
    """AWAY/HOME/ASLEEP per local minute: asleep until waking (from the previous night's bedtime) and after bed."""
    occupancy = np.full(_MINUTES_PER_DAY, HOME, dtype=np.int8)
    occupancy[max(previous.bed - _MINUTES_PER_DAY, 0) : plan.wake] = ASLEEP
    for leave, back in plan.away:
        occupancy[leave:back] = AWAY
    if plan.bed < _MINUTES_PER_DAY:
        occupancy[plan.bed :] = ASLEEP
    return occupancy


def _during(span: tuple[int, int] | None) -> np.ndarray:
    """Local minutes inside a (start, duration) span; none for ``None``."""
    if span is None:
        return np.zeros(_MINUTES_PER_DAY, dtype=bool)
    minute = _MINUTE_OF_DAY
    return (minute >= span[0]) & (minute < span[0] + span[1])


def _feature_columns(plan: _DayPlan, previous: _DayPlan, ordinal: int) -> np.ndarray:
    """The COL_* rows of one local date, from its plan (and the previous night's bedtime)."""
    minute = _MINUTE_OF_DAY
    occupancy = _occupancy(plan, previous)
    home = occupancy == HOME
    features = np.zeros((N_FEATURE_COLUMNS, _MINUTES_PER_DAY))
    features[COL_OCCUPANCY] = occupancy
    working_from_home = home & plan.home_office & (minute >= 480) & (minute < 1020)
    features[COL_WORKING_FROM_HOME] = working_from_home
    features[COL_TV_ON] = home & _during(plan.tv)
    features[COL_PC_ON] = home & (working_from_home | _during(plan.pc_evening))
    for shower in plan.showers:
        features[COL_SHOWER_RUNNING] += _during(shower) & (occupancy != AWAY)
    for start, duration, watts in plan.cooking:
        features[COL_COOKING_WATTS] += _during((start, duration)) * home * watts
    features[COL_AFTER_WAKING] = (minute >= plan.wake) & (minute < plan.wake + 45) & (occupancy != AWAY)
    features[COL_BEFORE_BED] = (minute >= plan.bed - 40) & (minute < plan.bed) & (occupancy != AWAY)
    features[COL_BOILER_HEATING] = _during((plan.boiler[0], _boiler_minutes(previous)))
    features[COL_WEEKEND] = date.fromordinal(ordinal).weekday() >= 5
    np.clip(features[COL_SHOWER_RUNNING], 0, 1, out=features[COL_SHOWER_RUNNING])
    return features


_HOLIDAYS: dict[int, set[date]] = {}


def is_holiday(day: date) -> bool:
    """A public holiday of the canton of Valais (the ``holidays`` library, as Gold's calendar)."""
    if day.year not in _HOLIDAYS:
        import holidays

        _HOLIDAYS[day.year] = set(holidays.country_holidays("CH", subdiv="VS", years=day.year))
    return day in _HOLIDAYS[day.year]


# Local minute at which the ripple control releases each apartment's water boiler (night tariff).
_BOILER_RELEASE = (30, 75)
_BOILER_STANDBY_MINUTES = 20  # reheating the tank's standing losses
_BOILER_MINUTES_PER_SHOWER_MINUTE = 7  # ~5 l/min at 40 K: 2.3 kWh per 10-minute shower, at 2 kW
# Absences, per ISO week: a weekend away (Saturday morning to Sunday evening) or a whole week away
# (Saturday to the next Sunday evening), with these probabilities.
_WEEKEND_AWAY_P = 0.15
_WEEK_AWAY_P = 0.05


def _absence(seed: int, apartment_index: int, ordinal: int) -> tuple[int, int] | None:
    """(leave, back) local minutes of this date if the occupants are away on it, else None (0/1440: all day).

    Stateless: the absences of ISO week W are drawn from (seed, STREAM_ABSENCES, apartment, W); a week away
    starts on that week's Saturday and covers the whole next week.
    """
    day = date.fromordinal(ordinal)
    monday = ordinal - day.weekday()
    for week_monday in (monday, monday - 7):
        u_kind, u_leave, u_back = _rng(seed, STREAM_ABSENCES, apartment_index, week_monday).random(3)
        saturday = week_monday + 5
        if u_kind < _WEEK_AWAY_P:
            last = saturday + 8  # the Sunday of the following week
        elif u_kind < _WEEK_AWAY_P + _WEEKEND_AWAY_P and week_monday == monday:
            last = saturday + 1
        else:
            continue
        if saturday <= ordinal <= last:
            leave = 540 + int(u_leave * 180) if ordinal == saturday else 0
            back = 1020 + int(u_back * 180) if ordinal == last else _MINUTES_PER_DAY
            return leave, back
    return None


_REMOTE_WEEK_HOME_OFFICE_P = 0.9


def _home_office_p(seed: int, apartment_index: int, ordinal: int, persona: _Persona) -> float:
    """Probability that a weekday of this date's ISO week is worked from home.

    Home office comes in weeks, not as independent days: an employer's or a project's remote weeks (drawn per
    ISO week from (seed, STREAM_WORK_WEEKS, apartment, week)) are mostly worked from home, an office week
    only now and then. Stateless, like :func:`_absence`.
    """
    monday = ordinal - date.fromordinal(ordinal).weekday()
    remote = _rng(seed, STREAM_WORK_WEEKS, apartment_index, monday).random() < persona.remote_week_p
    return _REMOTE_WEEK_HOME_OFFICE_P if remote else persona.home_office_p


def _away_plan(plan: _DayPlan, absent: tuple[int, int]) -> _DayPlan:
    """The plan of a date with an absence: away between leave and back, nothing running meanwhile.

    Leaving day: the morning as planned, then away (bed after midnight, so the night is away too). Coming-back
    day: away until back, then an evening at home. Machines are not run and nobody showers while away.
    """
    leave, back = absent
    if leave > 0:  # leaving day
        return replace(plan, away=((leave, _MINUTES_PER_DAY),), bed=_MINUTES_PER_DAY + 1, tv=None,
                       pc_evening=None, cycles=(), home_office=False,
                       showers=tuple(s for s in plan.showers if s[0] < leave),
                       cooking=tuple(c for c in plan.cooking if c[0] < leave))
    bed = plan.bed if back < _MINUTES_PER_DAY else _MINUTES_PER_DAY + 1  # away all day: the night too
    return replace(plan, wake=0, bed=bed, away=((0, back),), home_office=False, cycles=(), pc_evening=None,
                   showers=tuple(s for s in plan.showers if s[0] > back),
                   cooking=tuple(c for c in plan.cooking if c[0] > back))


def _boiler_minutes(previous: _DayPlan) -> int:
    """Minutes the boiler heats in the night: standing losses plus the hot water of the previous day's showers."""
    shower_minutes = sum(duration for _, duration in previous.showers)
    return _BOILER_STANDBY_MINUTES + _BOILER_MINUTES_PER_SHOWER_MINUTE * shower_minutes


class _BehaviourPlanner:
    """Day plans and their per-minute features for one apartment, cached by local date.

    Stateless by design: the plan of a date depends only on (seed, apartment, date), so the behaviour of any
    minute is the same whatever range is generated.
    """

    def __init__(self, seed: int, apartment_index: int, inventory: Inventory) -> None:
        self.seed, self.apartment_index, self.inventory = seed, apartment_index, inventory
        self.persona = _PERSONAS[apartment_index % len(_PERSONAS)]
        self._plans: dict[int, _DayPlan] = {}
        self._days: dict[int, _LocalDay] = {}

    def plan(self, ordinal: int) -> _DayPlan:
        if ordinal not in self._plans:
            if len(self._plans) > 16:
                self._plans = {k: v for k, v in self._plans.items() if k >= ordinal - 3}
            self._plans[ordinal] = self._make_plan(ordinal)
        return self._plans[ordinal]

    def local_day(self, ordinal: int) -> _LocalDay:
        if ordinal not in self._days:
            if len(self._days) > 8:
                self._days = {k: v for k, v in self._days.items() if k >= ordinal - 3}
            self._days[ordinal] = self._make_local_day(ordinal)
        return self._days[ordinal]

    def _make_plan(self, ordinal: int) -> _DayPlan:
        """Draw the plan of one local date: the order of the draws below is part of the output.

        A Valais public holiday is lived as a Sunday; a date inside an absence (:func:`_absence`) is spent away.
        """
        rng = _rng(self.seed, STREAM_DAY_PLAN, self.apartment_index, ordinal)
        persona = self.persona
        weekday = date.fromordinal(ordinal).weekday()
        if is_holiday(date.fromordinal(ordinal)):
            weekday = 6
        weekend = weekday >= 5
        uniforms = _PlanUniforms(*rng.random(16))
        wake, bed = _wake_and_bed(rng, persona, weekday)
        home_office_p = _home_office_p(self.seed, self.apartment_index, ordinal, persona)
        home_office, away = _outings(rng, uniforms, persona, weekend, wake, bed, home_office_p)
        showers = _showers(rng, uniforms, persona, wake, bed)
        tv, pc_evening = _evening_screens(rng)
        cooking = _cooking(rng, wake, lunch_at_home=weekend or home_office)
        rng.integers(60, 150), rng.integers(40, 100)  # the boiler's former random start and length (kept draws)
        # Night tariff: the utility's ripple control releases the water boiler at a fixed time per building; it
        # runs until the water drawn the day before is heated again (length set in _feature_columns).
        boiler = (_BOILER_RELEASE[self.apartment_index % len(_BOILER_RELEASE)], 0)
        cycle_rng = _rng(self.seed, STREAM_APPLIANCE_CYCLES, self.apartment_index, ordinal)
        cycles = _appliance_cycles(cycle_rng, self.inventory.plugs, weekend, ordinal)
        plan = _DayPlan(wake, bed, away, home_office, tv, pc_evening, showers, cooking, boiler, cycles)
        absent = _absence(self.seed, self.apartment_index, ordinal)
        return plan if absent is None else _away_plan(plan, absent)

    def _make_local_day(self, ordinal: int) -> _LocalDay:
        plan = self.plan(ordinal)
        features = _feature_columns(plan, self.plan(ordinal - 1), ordinal)
        midnight = datetime.combine(date.fromordinal(ordinal), time())
        cycles = tuple(
            (plug, to_abs_minute((midnight + timedelta(minutes=start)).replace(tzinfo=ZURICH)), profile)
            for plug, start, profile in plan.cycles
        )
        return _LocalDay(features, cycles)


# --------------------------------------------------------------------------------------------------------------
# Shared weather and per-day context
# --------------------------------------------------------------------------------------------------------------


def _hourly_ar1_path(
    rng: np.random.Generator, y0: float, mean: float, phi: float, sigma: float
) -> tuple[np.ndarray, float]:
    """An hourly AR(1) path starting at the carried value, linearly interpolated to minutes.

    Returns the 1,440 minute values and the value at 24:00, carried into the next day. Draws 24 normals.
    """
    knots = np.empty(25)
    knots[0] = y0
    shocks = rng.normal(0.0, sigma, 24)
    for h in range(24):
        knots[h + 1] = mean + phi * (knots[h] - mean) + shocks[h]
    return np.interp(_HOUR_OF_MINUTE, _HOURLY_KNOTS, knots), float(knots[24])


def _first_order_lag(target: np.ndarray, alpha: np.ndarray | float, y0: float) -> tuple[np.ndarray, float]:
    """First-order lag ``y[n] = y[n-1] + alpha[n] * (target[n] - y[n-1])``, vectorised.

    The one model behind every slow physical quantity; a time-varying ``alpha`` gives e.g. CO2 decaying
    faster while a window is open. Closed form per block: ``y[n] = P[n] * (y0 + sum(alpha*x/P))`` with
    ``P = cumprod(1 - alpha)``; blocks of 4 hours keep ``P`` far from underflow (alpha <= 0.25 here).
    Returns the path and its last value, carried into the next day.
    """
    x = np.asarray(target, dtype=float)
    a = np.broadcast_to(np.asarray(alpha, dtype=float), x.shape)
    out = np.empty_like(x)
    y = float(y0)
    for lo in range(0, x.size, _LAG_BLOCK):
        ab, xb = a[lo : lo + _LAG_BLOCK], x[lo : lo + _LAG_BLOCK]
        keep = np.cumprod(1.0 - ab)
        block = keep * (y + np.cumsum(ab * xb / keep))
        out[lo : lo + _LAG_BLOCK] = block
        y = float(block[-1])
    return out, y


_LAG_BLOCK = 240


@dataclass
class _DayContext:
    """Everything shared by both apartments for one UTC day (arrays: one value per UTC minute)."""

    day_abs: int  # days since 1970-01-01
    first_minute: int  # absolute minute of 00:00 UTC
    local_date: np.ndarray  # Zurich local date (ordinal) of each UTC minute: drives behaviour
    local_minute: np.ndarray  # Zurich local minute of day of each UTC minute
    names: list[str]  # file-name prefix "DD.MM.YYYY HHMM" per minute, in the source clock
    labels: list[str]  # payload datetime "DD.MM.YYYY HH:MM" per minute, in the source clock
    outdoor_lux: np.ndarray
    outdoor_temperature: np.ndarray  # °C
    outdoor_humidity: np.ndarray  # % RH
    pressure: np.ndarray  # hPa at sea level
    outdoor_mean_24h: np.ndarray  # °C, mean outdoor temperature of the preceding 24 hours (heating control)

    @property
    def days_since_epoch(self) -> np.ndarray:
        """Fractional days since 1970-01-01 of each minute (the clock of battery drain)."""
        return (self.first_minute + _MINUTE_OF_DAY) / 1440.0


def _zurich_clock(day_abs: int) -> tuple[np.ndarray, np.ndarray]:
    """Zurich local date (ordinal) and local minute of day of each UTC minute of a day.

    The offset is looked up once per UTC hour: Zurich changes offset on whole UTC hours.
    """
    start = _EPOCH_1970 + timedelta(days=day_abs)
    local_date = np.empty(24, dtype=np.int64)
    local_minute = np.empty(24, dtype=np.int64)
    for hour in range(24):
        local = (start + timedelta(hours=hour)).astimezone(ZURICH)
        local_date[hour] = local.toordinal()
        local_minute[hour] = local.hour * 60 + local.minute
    return np.repeat(local_date, 60), np.repeat(local_minute, 60) + np.tile(np.arange(60), 24)


def _simulate_weather(
    rng: np.random.Generator, seed: int, day_abs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outdoor (lux, temperature °C, humidity % RH, pressure hPa) per UTC minute.

    The weather itself is ``generator/outdoor.py``'s: a pure function of (seed, hour), so that the forecast files
    (``generator/weather.py``) describe the same weather whatever range is simulated. Only the humidity's
    minute-to-minute noise is drawn here.
    """
    truth = outdoor.minute_weather(seed, day_abs)
    humidity = np.clip(truth.humidity + rng.normal(0, 1.0, _MINUTES_PER_DAY), 30, 98)
    return truth.lux, truth.temperature, humidity, truth.pressure


# --------------------------------------------------------------------------------------------------------------
# One apartment, one UTC day
# --------------------------------------------------------------------------------------------------------------

# °C above or below the apartment's base temperature. Its keys are also the rooms simulated for motion and
# window airing, in this order (the order of the motion draws), whether or not the apartment has them.
_ROOM_TEMPERATURE_OFFSET = {
    "Livingroom": 0.5,
    "Office": 0.2,
    "Bdroom": -0.8,
    "Kitchen": 0.3,
    "Bhroom": 0.8,
    "Laundry": -1.2,
}
# Share of the outdoor illuminance that reaches a room's motion sensor (window size and orientation).
_DAYLIGHT_FACTOR = {
    "Livingroom": 0.006,
    "Office": 0.005,
    "Bdroom": 0.003,
    "Kitchen": 0.004,
    "Bhroom": 0.002,
    "Laundry": 0.0008,
}
# Lux a room's lamps add at its motion sensor.
_LAMP_LUX = {"Livingroom": 220, "Office": 350, "Bdroom": 130, "Kitchen": 300, "Bhroom": 260, "Laundry": 200}
# Phase (1-3) of the house meter each plug is wired to.
_PLUG_PHASE = {"Livingroom": 1, "Office": 1, "Dryer": 2, "Dishwasher": 3, "WashingMachine": 3}
_STANDBY_W = {"Livingroom": 0.5, "Office": 1.6, "Dishwasher": 0.5, "WashingMachine": 0.7, "Dryer": 0.4}
# Rooms whose windows ventilate a station (jeremie's living room is open to the kitchen).
_VENTILATED_BY = {"Livingroom": ("Livingroom", "Kitchen"), "Office": ("Office",), "Bdroom": ("Bdroom",)}
_RESET_P_PER_DAY = 1 / 30  # counter resets: roughly once a month per plug
_INDOOR_SENSOR_RANGE_C = (19.0, 24.0)  # indoor temperatures stay in this range, noise included
# Sea-level minus station pressure at the apartments' altitude (Netatmo AbsolutePressure = Pressure - this).
_ALTITUDE_PRESSURE_DROP_HPA = 60.2


@dataclass(frozen=True)
class _HeatingSpec:
    """How an apartment heats, as far as its electricity meter sees it."""

    ua_w_per_k: float  # heat-pump house: heat loss of the envelope per K indoor-outdoor (0: not electric)
    solar_aperture_m2: float  # effective glazing: solar gains = aperture x global radiation
    towel_radiator_w: float  # an electric bathroom towel radiator (0: none)
    season_below_c: float  # heating runs while the mean outdoor temperature of the last 24 h is below this


# Per apartment index (the pidb reference data: jimmy's flat has no electric heating, jeremie's house has).
_HEATING = (
    _HeatingSpec(ua_w_per_k=0.0, solar_aperture_m2=0.0, towel_radiator_w=400.0, season_below_c=15.0),
    _HeatingSpec(ua_w_per_k=180.0, solar_aperture_m2=5.0, towel_radiator_w=0.0, season_below_c=16.0),
)


@dataclass
class _ApartmentState:
    """Everything an apartment carries from one UTC day to the next."""

    plug_counters: dict[str, float]  # Wh, the plugs' cumulative ``total``
    plug_temperature: dict[str, float]
    co2: dict[str, float]  # ppm, per indoor station
    open_until: dict[tuple[str, int], int]  # absolute minute until which a contact stays open
    window_airing: dict[str, float]  # per room, 0..1: how much recently opened windows cool and ventilate it
    shower_steam: float = 0.0  # bathroom humidity above normal, % RH
    cooking_heat: float = 0.0  # 0..1, kitchen warmed by cooking
    laundry_moisture: float = 0.0  # 0..1, laundry room moistened by the washer and dryer
    indoor_drift: float = 0.0  # °C, slow random walk of the whole apartment's temperature
    pc_watts: float = 95.0  # smoothed office PC load
    phase_voltages: list[float] = field(default_factory=lambda: [232.5, 232.5, 232.5])
    last_occupancy: int = ASLEEP
    heating_setpoint: float = 20.5  # °C, the thermostat's setpoint as the building follows it (lagged)


@dataclass
class _ApartmentDay:
    """Prepared per-minute Python lists of one apartment-day; a payload is a cheap dict over index ``i``."""

    inventory: Inventory
    plugs: list[tuple[str, list[float], list[int], list[float]]]
    contacts: list[tuple[str, list[tuple[str, list[str], list[int]]]]]
    motions: list[tuple[str, list[bool], list[int], list[float]]]
    meteo: list[tuple[str, list[tuple[str, list[Any]]]]]
    humidities: list[tuple[str, list[float], list[float], list[int]]]
    house: list[tuple[str, list[float]]]
    resets: list[tuple[int, str]]  # (minute index in the day, plug)

    def payload(self, i: int, label: str) -> dict[str, Any]:
        """The clean payload of minute ``i`` (fresh dicts: callers may mutate them)."""
        inv = self.inventory
        return {
            "user": inv.handle,
            "api_token": inv.api_token,
            "datetime": label,
            "plugs": {
                room: {
                    "power": power[i],
                    "total": total[i],
                    "temperature": temperature[i],
                    "overtemperature": False,
                    "switch": "on",
                }
                for room, power, total, temperature in self.plugs
            },
            "doorsWindows": {
                room: [
                    {"type": kind, "switch": switch[i], "battery": battery[i], "defense": 0}
                    for kind, switch, battery in contacts
                ]
                for room, contacts in self.contacts
            },
            "motions": {
                room: {"motion": motion[i], "light": lux[i], "temperature": temperature[i]}
                for room, motion, lux, temperature in self.motions
            },
            "meteos": {"meteo": {station: {k: col[i] for k, col in cols} for station, cols in self.meteo}},
            "humidities": {
                room: {"temperature": temperature[i], "humidity": humidity[i], "devicePower": battery[i]}
                for room, temperature, humidity, battery in self.humidities
            },
            "consumptions": {"House": {k: col[i] for k, col in self.house}},
        }


@dataclass(frozen=True)
class _Activity:
    """What the occupants do in each UTC minute of one day: the feature columns, read as named arrays."""

    occupancy: np.ndarray  # AWAY/HOME/ASLEEP (float)
    home: np.ndarray
    asleep: np.ndarray
    local_minute: np.ndarray  # Zurich minute of day
    evening: np.ndarray  # 18:00-23:30 local
    meals: np.ndarray  # 07:00-08:00, 12:00-13:00, 18:30-20:00 local
    working_from_home: np.ndarray
    tv_on: np.ndarray
    pc_on: np.ndarray
    shower: np.ndarray  # 0/1
    cooking_watts: np.ndarray
    after_waking: np.ndarray
    before_bed: np.ndarray
    weekend: np.ndarray  # 0/1
    boiler_heating: np.ndarray  # 0/1


@dataclass(frozen=True)
class _IndoorClimate:
    """Room temperatures (°C, every room of _ROOM_TEMPERATURE_OFFSET) and the slow effects behind them."""

    temperature: dict[str, np.ndarray]
    window_airing: dict[str, np.ndarray]
    cooking_heat: np.ndarray
    shower_steam: np.ndarray


@dataclass(frozen=True)
class _IndoorAir:
    """What drives CO2 and humidity: occupants breathing in a room, plus moisture sources."""

    home: np.ndarray
    occupant_load: dict[str, np.ndarray]  # rooms with a station; others get 0.3 while someone is home
    base_humidity: np.ndarray  # % RH of a room without sources, following outdoor humidity
    climate: _IndoorClimate
    laundry_moisture: np.ndarray

    def occupants(self, room: str) -> np.ndarray:
        return self.occupant_load.get(room, 0.3 * self.home)

    def relative_humidity(self, room: str) -> np.ndarray:
        """% RH of a room: occupants add, open windows remove, showers, laundry and cooking add."""
        climate = self.climate
        extra = {
            "Bhroom": climate.shower_steam,
            "Laundry": 12 * self.laundry_moisture,
            "Kitchen": 4 * climate.cooking_heat,
        }.get(room, 0.0)
        rh = self.base_humidity + 2.5 * self.occupants(room) - 5 * climate.window_airing[room] + extra
        return np.clip(rh, 35, 95 if room == "Bhroom" else 70)


def _sensor_reading(
    rng: np.random.Generator,
    true_value: np.ndarray,
    sd: float,
    decimals: int,
    bounds: tuple[float, float] | None = None,
) -> list[float]:
    """Sensor noise and rounding; ``bounds`` keeps a reading inside its physical range after noise."""
    values = np.round(true_value + rng.normal(0.0, sd, _MINUTES_PER_DAY), decimals)
    return (np.clip(values, *bounds) if bounds else values).tolist()


def _window_openings(
    room: str, ctx: _DayContext, activity: _Activity, length_u: np.ndarray, length_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per minute: the probability that a window of ``room`` is opened, and how long it would stay open.

    At home: a base rate, doubled on warm days, plus airing the bedroom after waking, the kitchen while
    cooking and the bathroom during a shower; asleep: rarely, on mild nights. Open 5-25 min (65 %),
    25-120 min (30 %) or 2-8 h (5 %).
    """
    a = activity
    warm = ctx.outdoor_temperature > 20
    rate = np.where(
        a.home,
        0.0025 * (1 + warm)
        + 0.03 * (room == "Bdroom") * a.after_waking
        + 0.02 * (room == "Kitchen") * (a.cooking_watts > 0)
        + 0.03 * (room == "Bhroom") * (a.shower > 0),
        np.where(a.asleep, 0.0003 * (ctx.outdoor_temperature > 16), 0.0),
    )
    durations = np.where(
        length_u < 0.65,
        5 + length_v * 20,
        np.where(length_u < 0.95, 25 + length_v * 95, 120 + length_v * 360),
    )
    return rate, durations


def _door_openings(
    room: str,
    activity: _Activity,
    motion: dict[str, np.ndarray],
    length_u: np.ndarray,
    length_v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per minute: the probability that a door of ``room`` is opened, and how long it would stay open.

    Mostly when someone moves in the room; the bedroom door around waking and bedtime. Open 1-4 min, or left
    open 40-80 min (5 %).
    """
    a = activity
    moving = motion.get(room, np.zeros(_MINUTES_PER_DAY, bool))
    rate = np.where(a.home, 0.01 + 0.15 * moving, np.where(a.asleep, 0.001, 0.0))
    rate = rate + 0.3 * (room == "Bdroom") * (a.after_waking | a.before_bed)
    durations = np.where(length_u < 0.95, 1 + length_v * 3, 40 + length_v * 40)
    return rate, durations


class _ApartmentModel:
    """Simulates one apartment day by day; holds the per-device constants and the carried state."""

    def __init__(self, seed: int, apartment_index: int, inventory: Inventory) -> None:
        self.seed, self.apartment_index, self.inv = seed, apartment_index, inventory
        self.planner = _BehaviourPlanner(seed, apartment_index, inventory)
        initial_rng = _rng(seed, STREAM_INITIAL_STATE, apartment_index)
        self.state = _ApartmentState(
            plug_counters={p: float(initial_rng.integers(5_000, 90_000)) for p in inventory.plugs},
            plug_temperature={p: 24.0 for p in inventory.plugs},
            co2={s: 600.0 for s in inventory.meteo_stations if s != OUTDOOR},
            open_until={(room, pos): 0 for room, pos, _ in inventory.contacts},
            window_airing={room: 0.0 for room in _ROOM_TEMPERATURE_OFFSET},
        )
        # Battery devices: (phase, drain %/day); level = 100 - ((phase + rate * day) mod 90), replaced at 10 %.
        device_rng = _rng(seed, STREAM_DEVICE_CONSTANTS, apartment_index)
        keys = [f"contact:{r}:{p}" for r, p, _ in inventory.contacts]
        keys += [f"meteo:{s}" for s in inventory.meteo_modules] + [
            f"humidity:{r}" for r in inventory.humidities
        ]
        self.batteries = {
            k: (float(device_rng.uniform(0, 90)), float(device_rng.uniform(0.25, 0.75))) for k in keys
        }
        # Calibration error (°C) of each sensor family's temperature.
        self.sensor_bias = {
            k: float(device_rng.normal(0, 0.25)) for k in ("motion", "meteo", "humidity", "plug")
        }
        self.temperature_offset = (0.3, -0.2)[apartment_index % 2]  # °C, the apartment's base vs 21.2 °C

    def simulate_day(self, ctx: _DayContext) -> _ApartmentDay:
        """Simulate one UTC day of this apartment and advance its carried state.

        Every random number comes from this apartment-day's STREAM_SENSOR_DAY generator, drawn by the steps
        below in this order: the order is part of the output (moving a step changes every later value).
        """
        rng = _rng(self.seed, STREAM_SENSOR_DAY, ctx.day_abs, self.apartment_index)
        activity = self._activity(ctx)
        motion = self._motion(rng, activity)
        open_contacts, open_windows = self._doors_and_windows(rng, ctx, activity, motion)
        climate = self._indoor_temperatures(rng, ctx, activity, open_windows)
        appliance_watts = self._appliance_power(ctx)
        plug_watts = self._plug_power(rng, activity, appliance_watts)
        plug_columns, resets = self._plug_columns(rng, plug_watts, climate)
        contact_columns = self._contact_columns(ctx, open_contacts)
        motion_columns, lamps_on = self._motion_and_light_columns(rng, ctx, activity, motion, climate)
        air = self._indoor_air(ctx, activity, appliance_watts, climate)
        meteo_columns = self._meteo_columns(rng, ctx, activity, motion, air)
        humidity_columns = self._humidity_sensor_columns(rng, ctx, air)
        house_columns = self._house_meter_columns(rng, ctx, activity, plug_watts, lamps_on)
        return _ApartmentDay(
            inventory=self.inv,
            plugs=plug_columns,
            contacts=contact_columns,
            motions=motion_columns,
            meteo=meteo_columns,
            humidities=humidity_columns,
            house=house_columns,
            resets=resets,
        )

    # -- behaviour ---------------------------------------------------------------------------------------------

    def _features_on_utc_minutes(self, ctx: _DayContext) -> np.ndarray:
        """Local-day features mapped onto the UTC minutes of this day (handles DST days)."""
        features = np.empty((N_FEATURE_COLUMNS, _MINUTES_PER_DAY))
        for ordinal in np.unique(ctx.local_date).tolist():
            selected = ctx.local_date == ordinal
            features[:, selected] = self.planner.local_day(ordinal).features[:, ctx.local_minute[selected]]
        return features

    def _activity(self, ctx: _DayContext) -> _Activity:
        features = self._features_on_utc_minutes(ctx)
        occupancy = features[COL_OCCUPANCY]
        minute = ctx.local_minute
        return _Activity(
            occupancy=occupancy,
            home=occupancy == HOME,
            asleep=occupancy == ASLEEP,
            local_minute=minute,
            evening=(minute >= 1080) & (minute < 1410),
            meals=((minute >= 420) & (minute < 480))
            | ((minute >= 720) & (minute < 780))
            | ((minute >= 1110) & (minute < 1200)),
            working_from_home=features[COL_WORKING_FROM_HOME] > 0,
            tv_on=features[COL_TV_ON] > 0,
            pc_on=features[COL_PC_ON] > 0,
            shower=features[COL_SHOWER_RUNNING],
            cooking_watts=features[COL_COOKING_WATTS],
            after_waking=features[COL_AFTER_WAKING] > 0,
            before_bed=features[COL_BEFORE_BED] > 0,
            weekend=features[COL_WEEKEND],
            boiler_heating=features[COL_BOILER_HEATING],
        )

    def _motion(self, rng: np.random.Generator, activity: _Activity) -> dict[str, np.ndarray]:
        """Motion per room and minute: a per-room probability when awake at home, a trickle at night, none away."""
        a = activity
        p_home = {
            "Livingroom": 0.25 + 0.25 * a.evening - 0.15 * a.working_from_home,
            "Kitchen": 0.10 + 0.4 * a.meals + 0.3 * (a.cooking_watts > 0),
            "Office": 0.05 + 0.5 * a.working_from_home + 0.35 * a.pc_on,
            "Bdroom": 0.04 + 0.45 * (a.after_waking | a.before_bed),
            "Bhroom": 0.06 + 0.5 * a.shower + 0.2 * a.after_waking,
            "Laundry": 0.04 + 0.04 * a.weekend,
        }
        p_asleep = {"Bdroom": 0.02, "Bhroom": 0.004}
        draws = rng.random((len(_ROOM_TEMPERATURE_OFFSET), _MINUTES_PER_DAY))
        return {
            room: draws[k]
            < np.where(a.home, p_home[room], np.where(a.asleep, p_asleep.get(room, 0.002), 0.0))
            for k, room in enumerate(_ROOM_TEMPERATURE_OFFSET)
        }

    def _doors_and_windows(
        self, rng: np.random.Generator, ctx: _DayContext, activity: _Activity, motion: dict[str, np.ndarray]
    ) -> tuple[dict[tuple[str, int], np.ndarray], dict[str, np.ndarray]]:
        """Open minutes of every contact, keyed (room, position), and per room whether any window is open.

        Openings start at a rate driven by behaviour and last a sampled duration; the entrance (living-room
        door) also opens whenever someone leaves or comes home.
        """
        n = _MINUTES_PER_DAY
        state = self.state
        occupancy = activity.occupancy
        leaving_or_returning = np.zeros(n, dtype=bool)
        previous = np.concatenate([[state.last_occupancy], occupancy[:-1]])
        leaving_or_returning[(previous == AWAY) != (occupancy == AWAY)] = True
        state.last_occupancy = int(occupancy[-1])
        open_contacts: dict[tuple[str, int], np.ndarray] = {}
        open_windows: dict[str, np.ndarray] = {}
        for room, pos, kind in self.inv.contacts:
            start_u, length_u, length_v = rng.random(n), rng.random(n), rng.random(n)
            if kind == "Window":
                rate, durations = _window_openings(room, ctx, activity, length_u, length_v)
            else:
                rate, durations = _door_openings(room, activity, motion, length_u, length_v)
            starts = start_u < rate
            if room == "Livingroom" and kind == "Door":
                starts |= leaving_or_returning
            is_open = self._open_minutes(ctx, (room, pos), starts, durations)
            open_contacts[(room, pos)] = is_open
            if kind == "Window":
                open_windows[room] = open_windows.get(room, np.zeros(n, dtype=bool)) | is_open
        return open_contacts, open_windows

    def _open_minutes(
        self, ctx: _DayContext, contact: tuple[str, int], starts: np.ndarray, durations: np.ndarray
    ) -> np.ndarray:
        """Minutes a contact is open: carried over from yesterday, then each start not already open."""
        n = _MINUTES_PER_DAY
        is_open = np.zeros(n, dtype=bool)
        until = self.state.open_until[contact] - ctx.first_minute
        if until > 0:
            is_open[: min(until, n)] = True
        for start in np.flatnonzero(starts).tolist():
            if start < until:
                continue
            until = start + max(1, int(durations[start]))
            is_open[start:until] = True
        self.state.open_until[contact] = ctx.first_minute + until
        return is_open

    # -- physics -----------------------------------------------------------------------------------------------

    def _indoor_temperatures(
        self,
        rng: np.random.Generator,
        ctx: _DayContext,
        activity: _Activity,
        open_windows: dict[str, np.ndarray],
    ) -> _IndoorClimate:
        """Room temperatures: a daily cycle, outdoor influence and a slow drift, cooled by open windows,
        warmed by cooking (kitchen) and showers (bathroom), kept within 19-24 °C."""
        n = _MINUTES_PER_DAY
        state = self.state
        drift, state.indoor_drift = _hourly_ar1_path(rng, state.indoor_drift, 0.0, 0.95, 0.08)
        diurnal = 0.9 * np.cos(2 * np.pi * (activity.local_minute - 1020) / 1440)
        base = 21.2 + self.temperature_offset + diurnal + 0.10 * (ctx.outdoor_temperature - 15) + drift
        window_airing: dict[str, np.ndarray] = {}
        for room in _ROOM_TEMPERATURE_OFFSET:
            opened = open_windows.get(room)
            target = opened.astype(float) if opened is not None else np.zeros(n)
            window_airing[room], state.window_airing[room] = _first_order_lag(
                target, 0.08, state.window_airing[room]
            )
        cooking = (activity.cooking_watts > 0).astype(float)
        cooking_heat, state.cooking_heat = _first_order_lag(cooking, 0.1, state.cooking_heat)
        steam_rate = np.where(activity.shower > 0, 0.25, 0.035)  # builds up fast, clears slowly
        shower_steam, state.shower_steam = _first_order_lag(
            35.0 * activity.shower, steam_rate, state.shower_steam
        )
        temperature = {
            room: np.clip(
                base
                + offset
                - 1.8 * window_airing[room]
                + (1.0 * cooking_heat if room == "Kitchen" else 0.0)
                + (shower_steam / 30.0 if room == "Bhroom" else 0.0),
                19.0,
                24.0,
            )
            for room, offset in _ROOM_TEMPERATURE_OFFSET.items()
        }
        return _IndoorClimate(temperature, window_airing, cooking_heat, shower_steam)

    def _indoor_air(
        self,
        ctx: _DayContext,
        activity: _Activity,
        appliance_watts: dict[str, np.ndarray],
        climate: _IndoorClimate,
    ) -> _IndoorAir:
        """CO2 and humidity sources: occupants per station room, and laundry moisture from washer and dryer."""
        n = _MINUTES_PER_DAY
        a = activity
        occupant_load = {
            "Livingroom": a.home * (1.2 + 0.8 * a.evening - 0.9 * a.working_from_home),
            "Office": a.home * (0.1 + 0.9 * a.working_from_home + 0.6 * a.pc_on),
            "Bdroom": a.asleep * 2.0 + a.home * 0.1,
        }
        laundry_running = (
            appliance_watts["WashingMachine"] if "WashingMachine" in appliance_watts else np.zeros(n)
        ) + (appliance_watts["Dryer"] if "Dryer" in appliance_watts else np.zeros(n))
        laundry_moisture, self.state.laundry_moisture = _first_order_lag(
            (laundry_running > 0).astype(float), 0.05, self.state.laundry_moisture
        )
        base_humidity = 47 + 0.2 * (ctx.outdoor_humidity - 70)
        return _IndoorAir(a.home, occupant_load, base_humidity, climate, laundry_moisture)

    # -- electricity -------------------------------------------------------------------------------------------

    def _appliance_power(self, ctx: _DayContext) -> dict[str, np.ndarray]:
        """Watts of the machine cycles (dishwasher, washer, dryer) running in this UTC day, per plug.

        A cycle started on the previous local date may still run after midnight.
        """
        power = {p: np.zeros(_MINUTES_PER_DAY) for p in self.inv.plugs}
        first, last = int(ctx.local_date.min()), int(ctx.local_date.max())
        for ordinal in range(first - 1, last + 1):
            for plug, start_abs, profile in self.planner.local_day(ordinal).cycles:
                lo = start_abs - ctx.first_minute
                hi = start_abs - ctx.first_minute + profile.size
                a, b = max(lo, 0), min(hi, _MINUTES_PER_DAY)
                if a < b:
                    power[plug][a:b] += profile[a - lo : b - lo]
        return power

    def _plug_power(
        self, rng: np.random.Generator, activity: _Activity, appliance_watts: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Watts of every plug: TV evenings on the living-room plug, the PC on the office plug, machine cycles
        on theirs, standby otherwise."""
        n = _MINUTES_PER_DAY
        pc_watts, self.state.pc_watts = _first_order_lag(rng.uniform(60, 150, n), 0.15, self.state.pc_watts)
        plug_watts: dict[str, np.ndarray] = {}
        for plug in self.inv.plugs:
            standby = _STANDBY_W[plug] * (1 + rng.normal(0, 0.1, n))
            if plug == "Livingroom":
                watts = np.where(activity.tv_on, 85 + 25 * rng.random(n), standby)
            elif plug == "Office":
                watts = np.where(activity.pc_on, np.clip(pc_watts, 60, 150), standby)
            else:
                watts = np.where(appliance_watts[plug] > 0, appliance_watts[plug], standby)
            plug_watts[plug] = np.round(np.maximum(watts, 0.0), 2)
        return plug_watts

    def _plug_counter(
        self, rng: np.random.Generator, plug: str, watts: np.ndarray
    ) -> tuple[np.ndarray, int | None]:
        """The plug's cumulative Wh per minute and the minute it reset to a small value (None: no reset).

        A reset (a plug unplugged or re-paired) happens about once a month; the three draws are taken every day.
        """
        counter = self.state.plug_counters[plug] + np.cumsum(watts / 60.0)
        reset_u, reset_at, reset_to = (
            rng.random(),
            int(rng.integers(0, _MINUTES_PER_DAY)),
            float(rng.integers(0, 40)),
        )
        reset = reset_u < _RESET_P_PER_DAY
        if reset:
            counter[reset_at:] = reset_to + np.cumsum(watts[reset_at:] / 60.0)
        self.state.plug_counters[plug] = float(counter[-1])
        return counter, reset_at if reset else None

    def _plug_columns(
        self, rng: np.random.Generator, plug_watts: dict[str, np.ndarray], climate: _IndoorClimate
    ) -> tuple[list[tuple[str, list[float], list[int], list[float]]], list[tuple[int, str]]]:
        """Payload columns of the plugs (power, counter, temperature) and the day's (minute, plug) resets.

        A plug's temperature follows its room (the kitchen for the machines) plus its own heating.
        """
        columns = []
        resets: list[tuple[int, str]] = []
        for plug in self.inv.plugs:
            watts = plug_watts[plug]
            counter, reset_at = self._plug_counter(rng, plug, watts)
            if reset_at is not None:
                resets.append((reset_at, plug))
            ambient = climate.temperature.get(plug, climate.temperature["Kitchen"])
            plug_temperature, self.state.plug_temperature[plug] = _first_order_lag(
                ambient + 2.5 + 0.004 * watts, 0.04, self.state.plug_temperature[plug]
            )
            columns.append(
                (
                    plug,
                    watts.tolist(),
                    np.floor(counter).astype(int).tolist(),
                    _sensor_reading(rng, plug_temperature + self.sensor_bias["plug"], 0.05, 1),
                )
            )
        return columns, resets

    def _house_phase_loads(
        self,
        rng: np.random.Generator,
        ctx: _DayContext,
        activity: _Activity,
        plug_watts: dict[str, np.ndarray],
        lamps_on: np.ndarray,
    ) -> list[np.ndarray]:
        """Watts on each of the three phases: base loads plus every plug on its phase.

        Phase 1: fridge compressor (18 min in every 55); phase 2: lamps and cooking; phase 3: water boiler.
        """
        n = _MINUTES_PER_DAY
        minute_abs = ctx.first_minute + _MINUTE_OF_DAY
        fridge = 85.0 * (((minute_abs + 17 * self.apartment_index) % 55) < 18)
        heat_pump, towel_radiator = self._heating_watts(ctx, activity)
        phases = [
            35 + fridge + towel_radiator + heat_pump / 3 + rng.normal(0, 2, n),
            25 + 15 * lamps_on + activity.cooking_watts + heat_pump / 3 + rng.normal(0, 3, n),
            20 + 2000 * activity.boiler_heating + heat_pump / 3 + rng.normal(0, 3, n),
        ]
        for plug, watts in plug_watts.items():
            phases[_PLUG_PHASE[plug] - 1] = phases[_PLUG_PHASE[plug] - 1] + watts
        return phases

    def _heating_watts(self, ctx: _DayContext, activity: _Activity) -> tuple[np.ndarray, np.ndarray]:
        """Electric heating on the house meter: (heat pump W, towel radiator W) per minute.

        Which apartment heats how follows the reference data (pidb ``heatingElectric``): the house (index 1,
        jeremie) heats with an air-water heat pump, the flat (index 0, jimmy) has central heating outside its
        meter and only an electric towel radiator in the bathroom. See :data:`_HEATING`.
        """
        n = _MINUTES_PER_DAY
        spec = _HEATING[self.apartment_index % len(_HEATING)]
        mean_24h = ctx.outdoor_mean_24h
        season = mean_24h < spec.season_below_c  # the heating is switched off in warm spells
        setpoint = np.where(activity.home, 20.5, np.where(activity.asleep, 18.5, 17.0))
        lagged, self.state.heating_setpoint = _first_order_lag(setpoint, 0.01, self.state.heating_setpoint)
        heat_pump = np.zeros(n)
        if spec.ua_w_per_k:
            effective = 0.5 * ctx.outdoor_temperature + 0.5 * mean_24h  # the envelope's thermal mass
            solar = spec.solar_aperture_m2 * ctx.outdoor_lux / 110.0  # W/m² of global radiation ~ lux / 110
            demand = spec.ua_w_per_k * (lagged - effective) - solar - 300.0 * activity.home
            cop = np.clip(3.0 + 0.1 * ctx.outdoor_temperature, 2.0, 4.5)
            heat_pump = np.clip(demand, 0.0, 6000.0) / cop * season
        radiator = np.zeros(n)
        if spec.towel_radiator_w:
            minute = activity.local_minute
            wanted = activity.home & (activity.after_waking | ((minute >= 1110) & (minute < 1320)))
            duty = np.clip((17.0 - mean_24h) / 8.0, 0.25, 1.0)
            radiator = spec.towel_radiator_w * duty * wanted * season
        return heat_pump, radiator

    def _house_meter_columns(
        self,
        rng: np.random.Generator,
        ctx: _DayContext,
        activity: _Activity,
        plug_watts: dict[str, np.ndarray],
        lamps_on: np.ndarray,
    ) -> list[tuple[str, list[float]]]:
        """The house meter's HOUSE_KEYS columns: the plugs are part of total_power (never add them again
        downstream). Voltages drift around 232.6 V and sag under load; power factors rise with load."""
        n = _MINUTES_PER_DAY
        phase_loads = self._house_phase_loads(rng, ctx, activity, plug_watts, lamps_on)
        powers, volts = [], []
        for j in range(3):
            walk, self.state.phase_voltages[j] = _hourly_ar1_path(
                rng, self.state.phase_voltages[j], 232.6, 0.9, 0.4
            )
            power = np.round(np.maximum(phase_loads[j], 0.0), 2)
            voltage = np.round(np.clip(walk - 0.0006 * power + rng.normal(0, 0.15, n), 230.0, 235.0), 1)
            powers.append(power)
            volts.append(voltage)
        house: dict[str, list[float]] = {
            "total_power": np.round(powers[0] + powers[1] + powers[2], 2).tolist()
        }
        for j in range(3):
            house[f"power{j + 1}"] = powers[j].tolist()
        for j in range(3):
            house[f"current{j + 1}"] = np.round(powers[j] / volts[j], 2).tolist()
        for j in range(3):
            house[f"voltage{j + 1}"] = volts[j].tolist()
        for j in range(3):
            pf = np.clip(0.88 + 0.1 * np.tanh(powers[j] / 800) + rng.normal(0, 0.01, n), 0.75, 0.99)
            house[f"pf{j + 1}"] = np.round(pf, 2).tolist()
        return [(k, house[k]) for k in HOUSE_KEYS]

    # -- sensors -----------------------------------------------------------------------------------------------

    def _battery_levels(self, key: str, days: np.ndarray) -> list[int]:
        phase, rate = self.batteries[key]
        return (100 - np.floor(np.mod(phase + rate * days, 90.0))).astype(int).tolist()

    def _contact_columns(
        self, ctx: _DayContext, open_contacts: dict[tuple[str, int], np.ndarray]
    ) -> list[tuple[str, list[tuple[str, list[str], list[int]]]]]:
        """Per room, in inventory order: (type, switch "on"/"off", battery %) columns of each contact."""
        days = ctx.days_since_epoch
        return [
            (
                room,
                [
                    (
                        kind,
                        np.where(open_contacts[(room, pos)], "on", "off").tolist(),
                        self._battery_levels(f"contact:{room}:{pos}", days),
                    )
                    for pos, kind in enumerate(kinds)
                ],
            )
            for room, kinds in self.inv.doors_windows.items()
        ]

    def _motion_and_light_columns(
        self,
        rng: np.random.Generator,
        ctx: _DayContext,
        activity: _Activity,
        motion: dict[str, np.ndarray],
        climate: _IndoorClimate,
    ) -> tuple[list[tuple[str, list[bool], list[int], list[float]]], np.ndarray]:
        """Motion sensors' (motion, lux, temperature) columns, and the number of rooms with a lamp on.

        Light is daylight through the windows (bedroom blinds down while asleep) plus lamps, on when it is dark
        outside and someone moved in the last 12 minutes (or it is the evening, or bedtime in the bedroom).
        """
        n = _MINUTES_PER_DAY
        a = activity
        dark_outside = ctx.outdoor_lux < 3000
        columns = []
        lamps_on = np.zeros(n)
        for room in self.inv.motions:
            moved_recently = np.convolve(motion[room], np.ones(12))[:n] > 0
            lamp = (
                a.home
                & dark_outside
                & (
                    moved_recently
                    | ((room == "Livingroom") & a.evening)
                    | ((room == "Bdroom") & a.before_bed)
                )
            )
            lamps_on += lamp
            blinds = np.where(a.asleep & (room == "Bdroom"), 0.1, 1.0)
            daylight = ctx.outdoor_lux * _DAYLIGHT_FACTOR[room] * blinds
            lux = (daylight + lamp * _LAMP_LUX[room]) * (1 + rng.normal(0, 0.05, n)) + rng.uniform(0, 2, n)
            temperature = climate.temperature[room] + self.sensor_bias["motion"]
            columns.append(
                (
                    room,
                    motion[room].tolist(),
                    np.maximum(lux, 0).astype(int).tolist(),
                    _sensor_reading(rng, temperature, 0.05, 1, _INDOOR_SENSOR_RANGE_C),
                )
            )
        return columns, lamps_on

    def _meteo_columns(
        self,
        rng: np.random.Generator,
        ctx: _DayContext,
        activity: _Activity,
        motion: dict[str, np.ndarray],
        air: _IndoorAir,
    ) -> list[tuple[str, list[tuple[str, list[Any]]]]]:
        """Per Netatmo station, in payload order: its station_keys columns."""
        columns: list[tuple[str, list[tuple[str, list[Any]]]]] = []
        for station in self.inv.meteo_stations:
            if station == OUTDOOR:
                columns.append((station, self._outdoor_module_columns(rng, ctx)))
            else:
                columns.append(
                    (station, self._indoor_station_columns(rng, ctx, station, activity, motion, air))
                )
        return columns

    def _outdoor_module_columns(
        self, rng: np.random.Generator, ctx: _DayContext
    ) -> list[tuple[str, list[Any]]]:
        return [
            ("Temperature", _sensor_reading(rng, ctx.outdoor_temperature, 0.1, 1, (-15.0, 35.0))),
            ("Humidity", np.round(ctx.outdoor_humidity).astype(int).tolist()),
            ("battery_percent", self._battery_levels(f"meteo:{OUTDOOR}", ctx.days_since_epoch)),
        ]

    def _indoor_station_columns(
        self,
        rng: np.random.Generator,
        ctx: _DayContext,
        station: str,
        activity: _Activity,
        motion: dict[str, np.ndarray],
        air: _IndoorAir,
    ) -> list[tuple[str, list[Any]]]:
        """Temperature, CO2 and humidity of an indoor station; noise and pressure too on the main station.

        CO2 tends to 400 ppm plus what the occupants breathe out, faster while windows are open.
        """
        n = _MINUTES_PER_DAY
        ventilation = sum(air.climate.window_airing[r] for r in _VENTILATED_BY.get(station, (station,)))
        exchange_rate = 0.012 + 0.10 * np.minimum(ventilation, 1.0)
        exhaled = 5.5 * air.occupants(station)
        co2, self.state.co2[station] = _first_order_lag(
            400 + exhaled / exchange_rate, exchange_rate, self.state.co2[station]
        )
        temperature = air.climate.temperature[station] + self.sensor_bias["meteo"]
        columns: list[tuple[str, list[Any]]] = [
            ("Temperature", _sensor_reading(rng, temperature, 0.05, 1, _INDOOR_SENSOR_RANGE_C)),
            ("CO2", np.clip(np.round(co2 + rng.normal(0, 8, n)), 400, 1500).astype(int).tolist()),
            (
                "Humidity",
                np.round(air.relative_humidity(station) + rng.normal(0, 0.4, n)).astype(int).tolist(),
            ),
        ]
        if station == self.inv.meteo_main:
            columns += self._main_station_extra_columns(rng, ctx, activity, motion)
        else:
            columns.append(
                ("battery_percent", self._battery_levels(f"meteo:{station}", ctx.days_since_epoch))
            )
        return columns

    def _main_station_extra_columns(
        self, rng: np.random.Generator, ctx: _DayContext, activity: _Activity, motion: dict[str, np.ndarray]
    ) -> list[tuple[str, list[Any]]]:
        """Noise (dB: TV, people moving, cooking) and pressure (each apartment's barometer a bit off)."""
        n = _MINUTES_PER_DAY
        a = activity
        noise_db = np.where(
            a.home,
            42 + 8 * a.tv_on + 4 * motion["Livingroom"] + 5 * (a.cooking_watts > 0),
            np.where(a.asleep, 31, 33),
        ) + rng.normal(0, 1.5, n)
        pressure = np.round(ctx.pressure + 0.3 * self.apartment_index + rng.normal(0, 0.05, n), 1)
        return [
            ("Noise", np.clip(np.round(noise_db), 28, 75).astype(int).tolist()),
            ("Pressure", pressure.tolist()),
            ("AbsolutePressure", np.round(pressure - _ALTITUDE_PRESSURE_DROP_HPA, 1).tolist()),
        ]

    def _humidity_sensor_columns(
        self, rng: np.random.Generator, ctx: _DayContext, air: _IndoorAir
    ) -> list[tuple[str, list[float], list[float], list[int]]]:
        """The humidity sensors' (temperature, humidity, battery) columns."""
        return [
            (
                room,
                _sensor_reading(
                    rng,
                    air.climate.temperature[room] + self.sensor_bias["humidity"],
                    0.05,
                    1,
                    _INDOOR_SENSOR_RANGE_C,
                ),
                _sensor_reading(rng, air.relative_humidity(room), 0.3, 1),
                self._battery_levels(f"humidity:{room}", ctx.days_since_epoch),
            )
            for room in self.inv.humidities
        ]


# --------------------------------------------------------------------------------------------------------------
# Public simulator
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _SimulatedDay:
    """One UTC day of both apartments: the shared context and each apartment's prepared columns."""

    context: _DayContext
    apartments: list[_ApartmentDay]  # in APARTMENTS order


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


class SensorSimulator:
    """Minute-by-minute sensor payloads for both apartments, deterministic from ``seed``.

    State starts at 00:00 UTC of the day before ``history_start`` and advances one UTC day at a time; asking
    for an earlier minute than the current day restarts from there (cheap: a day costs a few milliseconds).
    ``source_tz`` only labels minutes (file names and payload ``datetime``), it never changes the values.
    """

    def __init__(self, seed: int, history_start: date | str, source_tz: str = "UTC",
                 apartments: Iterable[Inventory] | None = None) -> None:
        """``apartments``: the inventories to simulate (default the two of :data:`APARTMENTS`; more with
        :func:`inventories`). Each apartment's behaviour is keyed by its index in this list (personas, heating,
        boiler, absences: indexes >= 2 reuse the first two's parameters in turn, with their own random streams).
        """
        self.inventories = tuple(APARTMENTS.values()) if apartments is None else tuple(apartments)
        if len({inv.handle for inv in self.inventories}) != len(self.inventories):
            raise ValueError("apartments must have distinct handles")
        for inv in self.inventories:
            _READING_LEAVES.setdefault(inv.handle, _leaf_paths(inv))
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = seed
        self.history_start = _as_date(history_start)
        self.source_tz = source_tz
        self._tz = _zone(source_tz)
        self.first_day = (self.history_start - date(1970, 1, 1)).days - 1
        if self.first_day < 0:
            raise ValueError("history_start must be after 1970-01-02")
        self._reset()

    @property
    def first_minute(self) -> datetime:
        """The earliest UTC minute this simulator can produce."""
        return from_abs_minute(self.first_day * _MINUTES_PER_DAY)

    def _reset(self) -> None:
        self._models = [_ApartmentModel(self.seed, k, inv) for k, inv in enumerate(self.inventories)]
        self._day: int | None = None
        self._simulated: _SimulatedDay | None = None

    def _context(self, day_abs: int) -> _DayContext:
        """The shared context of a UTC day: clocks, labels, and the weather (advancing the weather state)."""
        local_date, local_minute = _zurich_clock(day_abs)
        names, labels = _labels_for_day(day_abs, self._tz)
        weather_rng = _rng(self.seed, STREAM_WEATHER, day_abs)
        lux, temperature, humidity, pressure = _simulate_weather(weather_rng, self.seed, day_abs)
        return _DayContext(
            day_abs=day_abs,
            first_minute=day_abs * _MINUTES_PER_DAY,
            local_date=local_date,
            local_minute=local_minute,
            names=names,
            labels=labels,
            outdoor_lux=lux,
            outdoor_temperature=temperature,
            outdoor_humidity=humidity,
            pressure=pressure,
            outdoor_mean_24h=outdoor.trailing_mean_temperature(self.seed, day_abs),
        )

    def _advance_to(self, day_abs: int) -> _SimulatedDay:
        """The simulated UTC day ``day_abs``, simulating every day up to it (from the start if it is past)."""
        if day_abs < self.first_day:
            raise ValueError(
                f"minute is before this simulator's first day "
                f"{from_abs_minute(self.first_day * _MINUTES_PER_DAY):%Y-%m-%d} "
                f"(history_start {self.history_start} minus one day)"
            )
        if self._day is not None and day_abs < self._day:
            self._reset()
        if self._day != day_abs or self._simulated is None:
            day = self.first_day if self._day is None else self._day + 1
            while day <= day_abs:
                ctx = self._context(day)
                self._simulated = _SimulatedDay(ctx, [model.simulate_day(ctx) for model in self._models])
                self._day = day
                day += 1
        assert self._simulated is not None
        return self._simulated

    def step(self, minute: datetime) -> dict[str, dict[str, Any]]:
        """Clean payloads of every apartment for one minute (aware, or naive UTC), keyed by handle."""
        day, i = divmod(to_abs_minute(minute), _MINUTES_PER_DAY)
        simulated = self._advance_to(day)
        label = simulated.context.labels[i]
        return {apt.inventory.handle: apt.payload(i, label) for apt in simulated.apartments}

    def payload_for(self, handle: str, minute: datetime) -> dict[str, Any]:
        """The clean payload of one apartment for one minute (the live mode's entry point)."""
        day, i = divmod(to_abs_minute(minute), _MINUTES_PER_DAY)
        simulated = self._advance_to(day)
        apt = simulated.apartments[[inv.handle for inv in self.inventories].index(handle)]
        return apt.payload(i, simulated.context.labels[i])

    def file_name(self, handle: str, minute: datetime) -> str:
        """The source file name of ``handle`` for a UTC minute, in this simulator's source clock."""
        return file_name(handle, minute, self.source_tz)

    def counter_resets(self, start: datetime, end: datetime) -> list[tuple[datetime, str, str]]:
        """(UTC minute, handle, plug) of every plug ``total`` reset in [start, end)."""
        lo, hi = to_abs_minute(start), to_abs_minute(end)
        out: list[tuple[datetime, str, str]] = []
        for day in range(lo // _MINUTES_PER_DAY, (hi - 1) // _MINUTES_PER_DAY + 1):
            simulated = self._advance_to(day)
            for apt in simulated.apartments:
                for i, plug in apt.resets:
                    if lo <= day * _MINUTES_PER_DAY + i < hi:
                        out.append((from_abs_minute(day * _MINUTES_PER_DAY + i), apt.inventory.handle, plug))
        return sorted(out)


# --------------------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------------------

# At most one payload fault per file: a file with a truncated body cannot also "have nulls", and tests of
# other modules need one unambiguous expectation per file.
PAYLOAD_FAULTS: Final = (
    "corrupt_json",
    "bad_datetime",
    "nulls",
    "out_of_range",
    "non_numeric",
    "single_object_contact",
    "flat_meteos",
)
REDELIVERY_FAULTS: Final = ("duplicate_delivery", "changed_redelivery")


@dataclass(frozen=True)
class Faults:
    """Fault rates, each a probability per apartment-minute file (0 = off).

    Draws are independent of the rates (one fixed uniform per file and group), so raising a rate only adds
    affected files. Groups: ``missing_minutes`` (file not written, nothing else applies); ``late_files``
    (independent); one payload fault among :data:`PAYLOAD_FAULTS` (their rates must sum to <= 1); one
    re-delivery among :data:`REDELIVERY_FAULTS` (sum <= 1).

    * ``missing_minutes``: the file is never written.
    * ``late_files``: written to ``late_dir`` instead of ``out_dir`` (the caller moves it in later).
    * ``corrupt_json``: the body is cut between 10 % and 90 % of its length (never valid JSON).
    * ``bad_datetime``: payload ``datetime`` unparsable (``"32.13.2023 25:61"``, ``""``, ...).
    * ``nulls``: 1–3 readings (any sensor value, incl. ``switch``/``motion``) set to null.
    * ``out_of_range``: 1–2 readings outside design.md's bounds (temperature 85, humidity 130, CO2 90,
      battery 140, plug power -50).
    * ``non_numeric``: one numeric reading becomes a string such as ``"n/a"`` (skip that reading only).
    * ``single_object_contact``: one ``doorsWindows`` room is a bare object, not a list (a one-contact room
      when the apartment has one; otherwise the room's first contact, the others dropped).
    * ``flat_meteos``: ``meteos`` without the ``meteo`` level.
    * ``duplicate_delivery``: identical bytes also written to ``redelivery_dir`` (mtime one hour later).
    * ``changed_redelivery``: a second version, 1–3 readings nudged (never counters or batteries), written
      to ``redelivery_dir`` under the same name (a corrupt first version is re-sent complete).
    """

    missing_minutes: float = 0.0
    late_files: float = 0.0
    corrupt_json: float = 0.0
    bad_datetime: float = 0.0
    nulls: float = 0.0
    out_of_range: float = 0.0
    single_object_contact: float = 0.0
    flat_meteos: float = 0.0
    duplicate_delivery: float = 0.0
    changed_redelivery: float = 0.0
    non_numeric: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            rate = getattr(self, f.name)
            if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {f.name}={rate!r} must be a number between 0 and 1")
        for group in (PAYLOAD_FAULTS, REDELIVERY_FAULTS):
            total = sum(getattr(self, k) for k in group)
            if total > 1.0 + 1e-9:
                raise ValueError(
                    f"rates of mutually exclusive faults {', '.join(group)} sum to {total:g} > 1"
                )

    def active(self) -> dict[str, float]:
        """The non-zero rates."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) > 0}


FAULT_KINDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(Faults))


def parse_fault_args(items: Iterable[str]) -> Faults:
    """``["nulls=0.01", "late_files=0.002,corrupt_json=0.001"]`` -> :class:`Faults`; clear errors otherwise."""
    rates: dict[str, float] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"fault {part!r} must look like NAME=RATE")
            if name not in FAULT_KINDS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_KINDS)}")
            if name in rates:
                raise ValueError(f"fault {name!r} given twice")
            try:
                rates[name] = float(value)
            except ValueError:
                raise ValueError(f"fault rate {part!r} is not a number") from None
    return Faults(**rates)


_JsonPath = tuple[str | int, ...]


def _leaf_paths(inv: Inventory) -> dict[str, list[tuple[_JsonPath, str]]]:
    """Reading leaves of a clean payload, by role, with a measure kind for out-of-range values."""
    numeric: list[tuple[_JsonPath, str]] = []
    other: list[tuple[_JsonPath, str]] = []
    for room in inv.plugs:
        numeric += [(("plugs", room, "power"), "power"), (("plugs", room, "total"), "counter")]
        numeric.append((("plugs", room, "temperature"), "temperature"))
    for room, pos, _kind in inv.contacts:
        other.append((("doorsWindows", room, pos, "switch"), "switch"))
        numeric.append((("doorsWindows", room, pos, "battery"), "battery"))
    for room in inv.motions:
        other.append((("motions", room, "motion"), "motion"))
        numeric += [(("motions", room, "light"), "light"), (("motions", room, "temperature"), "temperature")]
    measure_of_key = {
        "Temperature": "temperature",
        "CO2": "co2",
        "Humidity": "humidity",
        "Noise": "noise",
        "Pressure": "pressure",
        "AbsolutePressure": "pressure",
        "battery_percent": "battery",
    }
    for station in inv.meteo_stations:
        numeric += [(("meteos", "meteo", station, k), measure_of_key[k]) for k in station_keys(inv, station)]
    for room in inv.humidities:
        numeric += [
            (("humidities", room, "temperature"), "temperature"),
            (("humidities", room, "humidity"), "humidity"),
            (("humidities", room, "devicePower"), "battery"),
        ]
    numeric += [(("consumptions", "House", k), "electric") for k in HOUSE_READING_KEYS]
    return {"numeric": numeric, "all": numeric + other}


# The value an out_of_range fault writes, by measure kind (outside design.md section 4 bounds).
_OUT_OF_RANGE = {"temperature": 85.0, "humidity": 130.0, "co2": 90, "battery": 140, "power": -50.0}
_NON_NUMERIC = ("n/a", "unavailable", "--", "ERR")
_BAD_DATETIMES = ("32.13.2023 25:61", "", "00.00.0000 00:00", "not-a-date")
_UNCHANGED_ON_REDELIVERY = {"counter", "battery"}  # a changed counter would fake a meter reset downstream
# Per apartment: the reading leaves faults may hit, by role ("numeric", "all").
# Filled for every simulated inventory (SensorSimulator.__init__); the same handle always has the same leaves.
_READING_LEAVES: dict[str, dict[str, list[tuple[_JsonPath, str]]]] = {
    handle: _leaf_paths(inv) for handle, inv in APARTMENTS.items()}


def _path_str(path: _JsonPath) -> str:
    return "/".join(str(p) for p in path)


def _set(payload: dict[str, Any], path: _JsonPath, value: Any) -> None:
    node: Any = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _get(payload: dict[str, Any], path: _JsonPath) -> Any:
    """The value at ``path``, or None when a structural fault (flat meteos, single contact) moved it."""
    node: Any = payload
    try:
        for key in path:
            node = node[key]
    except (KeyError, IndexError, TypeError):
        return None
    return node


def _apply_payload_fault(
    kind: str, payload: dict[str, Any], handle: str, rng: np.random.Generator
) -> tuple[str, ...]:
    """Mutate ``payload`` for a dict-level fault; return the detail recorded in the report."""
    leaves = _READING_LEAVES[handle]
    if kind == "nulls":
        pool = leaves["all"]
        picks = rng.choice(len(pool), size=int(rng.integers(1, 4)), replace=False)
        paths = sorted(pool[int(j)][0] for j in picks)
        for path in paths:
            _set(payload, path, None)
        return tuple(_path_str(p) for p in paths)
    if kind == "out_of_range":
        pool = [(p, m) for p, m in leaves["numeric"] if m in _OUT_OF_RANGE]
        picks = rng.choice(len(pool), size=int(rng.integers(1, 3)), replace=False)
        chosen = sorted(pool[int(j)] for j in picks)
        for path, measure in chosen:
            _set(payload, path, _OUT_OF_RANGE[measure])
        return tuple(f"{_path_str(p)}={_OUT_OF_RANGE[m]}" for p, m in chosen)
    if kind == "non_numeric":
        pool = leaves["numeric"]
        path = pool[int(rng.integers(0, len(pool)))][0]
        value = _NON_NUMERIC[int(rng.integers(0, len(_NON_NUMERIC)))]
        _set(payload, path, value)
        return (f"{_path_str(path)}={value}",)
    if kind == "bad_datetime":
        value = _BAD_DATETIMES[int(rng.integers(0, len(_BAD_DATETIMES)))]
        payload["datetime"] = value
        return (value,)
    if kind == "single_object_contact":
        rooms = payload["doorsWindows"]
        singles = [r for r, contacts in rooms.items() if len(contacts) == 1]
        room = (singles or list(rooms))[int(rng.integers(0, len(singles or rooms)))]
        dropped = len(rooms[room]) - 1
        rooms[room] = rooms[room][0]
        return (room, f"dropped={dropped}")
    if kind == "flat_meteos":
        payload["meteos"] = payload["meteos"]["meteo"]
        return ()
    raise AssertionError(kind)


def _changed_copy(payload: dict[str, Any], handle: str, rng: np.random.Generator) -> tuple[str, ...]:
    """Nudge 1–3 numeric readings of ``payload`` in place (a corrected re-delivery); return their paths."""
    pool = [
        p
        for p, m in _READING_LEAVES[handle]["numeric"]
        if m not in _UNCHANGED_ON_REDELIVERY and type(_get(payload, p)) in (int, float)
    ]
    picks = sorted(pool[int(j)] for j in rng.choice(len(pool), size=int(rng.integers(1, 4)), replace=False))
    for path in picks:
        value = _get(payload, path)
        if type(value) is int:
            _set(payload, path, value + max(1, abs(value) // 50))
        else:
            _set(payload, path, round(value + max(0.1, abs(value) * 0.02), 2))
    return tuple(_path_str(p) for p in picks)


# --------------------------------------------------------------------------------------------------------------
# Writing a range
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """What :func:`write_range` produced, so tests downstream know exactly what to expect.

    ``file_names`` lists every name delivered, on time (``out_dir``) or late (``late_dir``), in minute order;
    missing minutes are not in it. ``faults[kind]`` maps each affected file name to a detail tuple:

    * ``missing_minutes``: ``()``; ``late_files``: ``()`` (the file is in ``late_dir`` only);
    * ``corrupt_json``: ``("bytes=N",)``, the body is the first N bytes of the serialised payload;
    * ``bad_datetime``: ``(value,)``, the unparsable payload ``datetime``;
    * ``nulls``: JSON paths set to null, e.g. ``"plugs/Office/power"``, ``"doorsWindows/Bdroom/1/switch"``;
    * ``out_of_range`` / ``non_numeric``: ``"path=value"``;
    * ``single_object_contact``: ``(room, "dropped=N")``, N other contacts of that room left out;
    * ``flat_meteos``: ``()``; ``duplicate_delivery``: ``()``, identical bytes in ``redelivery_dir``;
    * ``changed_redelivery``: paths whose value differs in the ``redelivery_dir`` copy (same name).

    ``counter_resets`` holds (file name, plug) for each plug ``total`` reset in the range (clean values).
    ``repeated`` names minutes not written because the source clock repeats an hour (DST fall-back in a
    ``source_tz`` with summer time): the first file of that name stays, as it would on the share.
    """

    out_dir: Path
    late_dir: Path | None
    redelivery_dir: Path | None
    start: datetime
    end: datetime
    seed: int
    source_tz: str
    history_start: date
    files_written: int = 0
    late_written: int = 0
    redelivered: int = 0
    file_names: list[str] = field(default_factory=list)
    faults: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=lambda: {k: {} for k in FAULT_KINDS}
    )
    counter_resets: list[tuple[str, str]] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)

    def fault_counts(self) -> dict[str, int]:
        """Affected files per fault kind (zeros included)."""
        return {kind: len(hits) for kind, hits in self.faults.items()}

    def summary(self) -> str:
        """One line for logs and the CLI."""
        counts = ", ".join(f"{k}={v}" for k, v in self.fault_counts().items() if v) or "none"
        return (
            f"wrote {self.files_written} files to {self.out_dir} (+{self.late_written} late, "
            f"+{self.redelivered} re-delivered) for {self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC, "
            f"source_tz={self.source_tz}; faults: {counts}; counter resets: {len(self.counter_resets)}"
        )


def _to_utc(value: date | datetime, zone: ZoneInfo | None) -> datetime:
    """A date is midnight of the source clock; a naive datetime is source-clock time; aware is kept."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone or UTC)
    return value.astimezone(UTC)


def _write_file(path: str, data: bytes, mtime: int) -> None:
    """Plain write plus mtime set on the open descriptor: one path lookup per file, the hot path's I/O."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _delivery_mtime(minute: int) -> int:
    """The mtime of a minute's file: the end of the minute plus 5-15 s (a fixed pseudo-random spread)."""
    return (minute + 1) * 60 + 5 + (minute * 7919) % 11


def _pick_fault(u: float, rates: list[tuple[str, float]]) -> str | None:
    """The fault whose slice of [0, 1) holds ``u`` (slices laid end to end in ``rates`` order), or None."""
    acc = 0.0
    for kind, rate in rates:
        acc += rate
        if u < acc:
            return kind
    return None


class _RangeWriter:
    """Writes the files of consecutive absolute minutes for :func:`write_range`, filling its report.

    Per file, four uniforms of the day's STREAM_FAULT_CHOICE draw decide: missing, which payload fault, which
    re-delivery, late. A file with a fault then draws what it breaks from its own STREAM_FAULT_DETAIL stream.
    """

    def __init__(self, simulator: SensorSimulator, faults: Faults, report: Report) -> None:
        self.simulator, self.faults, self.report = simulator, faults, report
        self.first_minute, self.end_minute = to_abs_minute(report.start), to_abs_minute(report.end)
        self.out_prefix = str(report.out_dir) + os.sep
        self.late_prefix = str(report.late_dir) + os.sep
        self.redelivery_prefix = str(report.redelivery_dir) + os.sep
        self.payload_rates = [(kind, getattr(faults, kind)) for kind in PAYLOAD_FAULTS]
        self.redelivery_rates = [(kind, getattr(faults, kind)) for kind in REDELIVERY_FAULTS]
        self.any_fault = bool(faults.active())
        self.handles = [inv.handle for inv in simulator.inventories]
        self.seen: set[str] = set()
        self.current_day = -1
        self.simulated: _SimulatedDay | None = None
        self.fault_choices = np.zeros((len(self.handles), _MINUTES_PER_DAY, 4))

    def write_minute(self, minute: int) -> None:
        """Write (or skip, or divert) the file of every apartment for one absolute minute."""
        day, i = divmod(minute, _MINUTES_PER_DAY)
        if day != self.current_day:
            self._start_day(day)
        assert self.simulated is not None
        prefix, label = self.simulated.context.names[i], self.simulated.context.labels[i]
        mtime = _delivery_mtime(minute)
        for apartment_index, apt in enumerate(self.simulated.apartments):
            handle = self.handles[apartment_index]
            name = f"{prefix}_{handle}_received.json"
            if (
                name in self.seen
            ):  # the source clock repeats an hour (DST fall-back): the share keeps the first file
                self.report.repeated.append(name)
                continue
            self.seen.add(name)
            if not self.any_fault:
                data = orjson.dumps(apt.payload(i, label), option=orjson.OPT_INDENT_2)
                self.report.file_names.append(name)
                self._deliver(name, data, mtime, late=False)
                continue
            self._write_with_faults(minute, apartment_index, name, apt, label, mtime)

    def _start_day(self, day: int) -> None:
        """Simulate the UTC day, draw its fault choices, and report its counter resets inside the range."""
        self.simulated = simulated = self.simulator._advance_to(day)
        self.current_day = day
        self.fault_choices = _rng(self.simulator.seed, STREAM_FAULT_CHOICE, day).random(
            (len(self.handles), _MINUTES_PER_DAY, 4)
        )
        for apt in simulated.apartments:
            for minute_of_day, plug in apt.resets:
                if self.first_minute <= day * _MINUTES_PER_DAY + minute_of_day < self.end_minute:
                    name = f"{simulated.context.names[minute_of_day]}_{apt.inventory.handle}_received.json"
                    self.report.counter_resets.append((name, plug))

    def _write_with_faults(
        self,
        minute: int,
        apartment_index: int,
        name: str,
        apt: _ApartmentDay,
        label: str,
        mtime: int,
    ) -> None:
        """Write one apartment's file of ``minute`` with the faults its uniforms choose, recording them."""
        i = minute % _MINUTES_PER_DAY
        u_missing, u_payload, u_redelivery, u_late = self.fault_choices[apartment_index, i].tolist()
        if u_missing < self.faults.missing_minutes:
            self.report.faults["missing_minutes"][name] = ()
            return
        self.report.file_names.append(name)
        handle = apt.inventory.handle
        payload = apt.payload(i, label)
        payload_kind = _pick_fault(u_payload, self.payload_rates)
        redelivery_kind = _pick_fault(u_redelivery, self.redelivery_rates)
        detail_rng = (
            _rng(self.simulator.seed, STREAM_FAULT_DETAIL, minute, apartment_index)
            if payload_kind or redelivery_kind
            else None
        )
        data, complete = self._serialise(name, handle, payload, payload_kind, detail_rng)
        self._deliver(name, data, mtime, late=u_late < self.faults.late_files)
        if redelivery_kind == "duplicate_delivery":
            _write_file(self.redelivery_prefix + name, data, mtime + 3600)
            self.report.faults["duplicate_delivery"][name] = ()
            self.report.redelivered += 1
        elif redelivery_kind == "changed_redelivery":
            assert detail_rng is not None
            if payload_kind == "corrupt_json":
                payload = orjson.loads(complete)  # the sender's fixed re-send of a truncated file
            self.report.faults["changed_redelivery"][name] = _changed_copy(payload, handle, detail_rng)
            changed = orjson.dumps(payload, option=orjson.OPT_INDENT_2)
            _write_file(self.redelivery_prefix + name, changed, mtime + 3600)
            self.report.redelivered += 1

    def _serialise(
        self,
        name: str,
        handle: str,
        payload: dict[str, Any],
        kind: str | None,
        detail_rng: np.random.Generator | None,
    ) -> tuple[bytes, bytes]:
        """The body to write, broken by the payload fault ``kind`` if any, and the complete serialised payload.

        Dict-level faults mutate ``payload`` before serialising; ``corrupt_json`` truncates the bytes after.
        """
        if kind and kind != "corrupt_json":
            assert detail_rng is not None
            self.report.faults[kind][name] = _apply_payload_fault(kind, payload, handle, detail_rng)
        data = orjson.dumps(payload, option=orjson.OPT_INDENT_2)
        if kind != "corrupt_json":
            return data, data
        assert detail_rng is not None
        cut = int(detail_rng.integers(len(data) // 10, len(data) * 9 // 10))
        self.report.faults["corrupt_json"][name] = (f"bytes={cut}",)
        return data[:cut], data

    def _deliver(self, name: str, data: bytes, mtime: int, *, late: bool) -> None:
        """Write a file on time into ``out_dir``, or into ``late_dir`` (keeping the on-time mtime)."""
        if late:
            _write_file(self.late_prefix + name, data, mtime)
            self.report.faults["late_files"][name] = ()
            self.report.late_written += 1
        else:
            _write_file(self.out_prefix + name, data, mtime)
            self.report.files_written += 1


def _default_simulator(
    start: date | datetime, seed: int, history_start: date | str | None, source_tz: str,
    apartments: int | None = None,
) -> SensorSimulator:
    """The simulator of a write_range call without one: history from ``history_start``, else from ``start``."""
    zone = _zone(source_tz)
    history = (
        _as_date(history_start)
        if history_start is not None
        else _to_utc(start, zone).astimezone(zone or UTC).date()
    )
    return SensorSimulator(seed, history, source_tz, None if apartments is None else inventories(apartments))


def _check_range_arguments(
    start_utc: datetime,
    end_utc: datetime,
    faults: Faults,
    late_dir: str | os.PathLike[str] | None,
    redelivery_dir: str | os.PathLike[str] | None,
) -> None:
    if end_utc <= start_utc:
        raise ValueError(f"empty range: end {end_utc} is not after start {start_utc}")
    if faults.late_files > 0 and late_dir is None:
        raise ValueError("late_files > 0 needs a late_dir to write the late files into")
    if (faults.duplicate_delivery > 0 or faults.changed_redelivery > 0) and redelivery_dir is None:
        raise ValueError("duplicate_delivery/changed_redelivery > 0 need a redelivery_dir")


def _make_dir(path: str | os.PathLike[str]) -> Path:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_range(
    out_dir: str | os.PathLike[str],
    start: date | datetime,
    end: date | datetime,
    faults: Faults | None = None,
    late_dir: str | os.PathLike[str] | None = None,
    redelivery_dir: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    history_start: date | str | None = None,
    source_tz: str = "UTC",
    simulator: SensorSimulator | None = None,
    apartments: int | None = None,
) -> Report:
    """Write every apartment-minute file in [start, end) and return a :class:`Report`.

    ``start``/``end`` are dates (midnight of ``source_tz``, the clock of the file names) or datetimes (naive =
    source clock). The simulation runs from ``history_start`` (default: the start date), writing nothing before
    ``start``: keep ``history_start`` fixed and any sub-range gives the same bytes as a longer run. Pass
    ``simulator`` to reuse one (its seed, history start and source time zone then apply); ``apartments`` = N
    simulates N apartments (:func:`inventories`; default the two of :data:`APARTMENTS`).

    Files get mtime = end of their minute + 5–15 s, as on the share; re-deliveries one hour later. Late files
    keep the on-time mtime (a pipeline keyed on mtimes would miss them, which is the point).
    """
    faults = faults or Faults()
    if simulator is None:
        simulator = _default_simulator(start, seed, history_start, source_tz, apartments)
    sim = simulator
    start_utc, end_utc = _to_utc(start, sim._tz), _to_utc(end, sim._tz)
    _check_range_arguments(start_utc, end_utc, faults, late_dir, redelivery_dir)
    out = _make_dir(out_dir)
    late = _make_dir(late_dir) if late_dir is not None else None
    redelivery = _make_dir(redelivery_dir) if redelivery_dir is not None else None
    report = Report(out, late, redelivery, start_utc, end_utc, sim.seed, sim.source_tz, sim.history_start)
    writer = _RangeWriter(sim, faults, report)
    for minute in range(writer.first_minute, writer.end_minute):
        writer.write_minute(minute)
    return report
