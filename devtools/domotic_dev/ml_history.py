"""A ``domotic.ml.history.History`` straight from the generator, without Silver or Gold (development aid).

What Gold would hold, computed from the simulated payloads: the house meter's hourly kWh (mean power x 1 h),
each room's hourly presence (motion, or a door changing state, windows excluded), Valais holidays, and the
Sion forecast of every issue day (control run, 3-hourly, interpolated as Gold's readers do). Used by unit tests
of the features and models (no database) and to try model changes in seconds; the pipeline's own numbers
(docs/ml.md, the benchmark) always come from Gold.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from domotic.generator.sensors import SensorSimulator
from domotic.generator.weather import SIMULATED_SITE, build_forecast_lines
from domotic.gold.plan import holiday_rows
from domotic.ml.history import History, hour_of_day_start, interpolate_forecast
from domotic.sensors.flatten import normalise_room

_CODES = {"PRED_T_2M_ctrl": 0, "PRED_GLOB_ctrl": 1, "PRED_TOT_PREC_ctrl": 2}


def _room_presence(apartment_day) -> dict[str, np.ndarray]:
    presence: dict[str, np.ndarray] = {}
    for room, motion, _lux, _temperature in apartment_day.motions:
        presence[room] = np.array(motion, bool)
    for room, contacts in apartment_day.contacts:
        for kind, switch, _battery in contacts:
            if kind != "Door":
                continue
            opened = np.array(switch) == "on"
            transition = np.concatenate([[False], opened[1:] != opened[:-1]])
            presence[room] = presence.get(room, np.zeros(1440, bool)) | transition
    return presence


def forecast_of(issue: date, seed: int) -> np.ndarray:
    """The interpolated Sion forecast issued on ``issue`` (control run), as ``History.weather`` holds it."""
    from domotic.ml.history import hour_of

    lines, _ = build_forecast_lines(issue, seed, sites=1, predictions=1, horizon_days=3, defects=False)
    steps: dict[int, list] = {}
    for line in lines[1:]:
        time, value, _prediction, site, code, _unit = line.split(",")
        if site != SIMULATED_SITE or code not in _CODES:
            continue
        from datetime import datetime

        hour = hour_of(datetime.fromisoformat(time))
        steps.setdefault(hour, [None, None, None, False])[_CODES[code]] = float(value)
    return interpolate_forecast({h: tuple(v) for h, v in steps.items()}, hour_of_day_start(issue))


def history_from_generator(seed: int, start: date, days: int, *, weather: bool = True) -> History:
    """``days`` UTC days of both apartments from ``start`` (history_start = start)."""
    simulator = SensorSimulator(seed, start)
    first_day = (start - date(1970, 1, 1)).days
    hours = days * 24
    energy: dict[str, np.ndarray] = {}
    presence: dict[tuple[str, str], np.ndarray] = {}
    for d in range(days):
        simulated = simulator._advance_to(first_day + d)
        for apartment_day in simulated.apartments:
            apartment = apartment_day.inventory.apartment
            total = np.array(dict(apartment_day.house)["total_power"]).reshape(24, 60)
            energy.setdefault(apartment, np.full(hours, np.nan))[d * 24:(d + 1) * 24] = total.mean(1) / 1000
            for room, flags in _room_presence(apartment_day).items():
                key = (apartment, normalise_room(room))
                presence.setdefault(key, np.full(hours, np.nan))[d * 24:(d + 1) * 24] = flags.reshape(24, 60).any(1)
    apartments = sorted(energy)
    rooms = [(a, 1000 * apartments.index(a) + i, name) for i, (a, name) in enumerate(sorted(presence))]
    holidays = {day for day, _ in holiday_rows(start, start + timedelta(days=days + 2))}
    forecasts = {start + timedelta(days=d): forecast_of(start + timedelta(days=d), seed) for d in range(days)} \
        if weather else {}
    return History(first_day * 24, hours, apartments, {a: i for i, a in enumerate(apartments)},
                   np.stack([energy[a] for a in apartments]), rooms,
                   np.stack([presence[(a, name)] for a, _, name in rooms]), holidays, forecasts)
