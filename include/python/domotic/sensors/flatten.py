"""Flatten one sensor JSON payload into long-format readings (design.md section 4).

Pure and allocation-light: this runs ~55 times per file and 5,000+ files per second, so it walks the payload
once with plain dict lookups. It never invents data: a missing or null value yields no reading, a value that is
neither a number nor a boolean skips that reading only (and is counted by reason), a contact without a
``type`` is not guessed, and a contact without ``switch`` yields no ``open`` reading.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# Rule 1: room spellings of the source, normalised; anything else passes through unchanged.
ROOM_NAMES: dict[str, str] = {"Bhroom": "Bathroom", "Bdroom": "Bedroom", "Livingroom": "Living Room"}

# (JSON key, Silver field, unit) per category.
PLUG_FIELDS = (("power", "power", "W"), ("total", "total", "Wh"), ("temperature", "temperature", "°C"))
MOTION_FIELDS = (("light", "light", "lux"), ("temperature", "temperature", "°C"))
METEO_FIELDS = (
    ("Temperature", "temperature_c", "°C"),
    ("CO2", "co2_ppm", "ppm"),
    ("Humidity", "humidity_pct", "%"),
    ("Noise", "noise_db", "dB"),
    ("Pressure", "pressure_hpa", "hPa"),
    ("AbsolutePressure", "abs_pressure_hpa", "hPa"),
    ("battery_percent", "battery", "%"),
)
HUMIDITY_FIELDS = (("temperature", "temperature", "°C"), ("humidity", "humidity", "%"), ("devicePower", "battery", "%"))
CONSUMPTION_FIELDS = (
    ("total_power", "total_power", "W"),
    *((f"power{i}", f"power{i}", "W") for i in (1, 2, 3)),
    *((f"current{i}", f"current{i}", "A") for i in (1, 2, 3)),
    *((f"voltage{i}", f"voltage{i}", "V") for i in (1, 2, 3)),
)
CONTACT_TYPES = {"door": "door", "window": "window"}
SWITCH_STATES = {"on": 1.0, "off": 0.0}

# One reading: ((room, sensor_type, field, sensor_index), unit, value). The key tuple is built once and used
# as-is for the series lookup of the loader (this code runs ~300,000 times a second).
SeriesKey = tuple[str, str, str, int]
Reading = tuple[SeriesKey, str, float]


@dataclass(slots=True)
class Flattened:
    readings: list[Reading] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> readings skipped


def normalise_room(raw: str) -> str:
    return ROOM_NAMES.get(raw, raw)


def _number(value: object) -> float | None:
    """A finite float for JSON numbers and booleans (true=1, false=0); None for anything else."""
    kind = type(value)
    if kind is float or kind is int:
        result = float(value)  # type: ignore[arg-type]
        return result if math.isfinite(result) else None
    if kind is bool:
        return 1.0 if value else 0.0
    return None


def _take(out: Flattened, obj: dict, room: str, sensor_type: str, fields: tuple, index: int = 0) -> None:
    append, get = out.readings.append, obj.get
    for key, name, unit in fields:
        raw = get(key)
        if raw is None:
            continue  # rule 3: missing or null yields no row
        kind = type(raw)
        if kind is float:
            if raw - raw != 0.0:  # inf/nan (NaN != NaN, inf - inf is NaN)
                out.skipped[f"non-numeric {sensor_type}.{name}"] += 1
                continue
            value = raw
        elif kind is int:
            value = float(raw)
        elif kind is bool:
            value = 1.0 if raw else 0.0
        else:
            out.skipped[f"non-numeric {sensor_type}.{name}"] += 1
            continue
        append(((room, sensor_type, name, index), unit, value))


def _rooms(out: Flattened, section: object, category: str):
    """(normalised room, object) pairs of a category, counting malformed entries instead of failing."""
    if section is None:
        return
    if not isinstance(section, dict):
        out.skipped[f"malformed {category}"] += 1
        return
    for raw_room, obj in section.items():
        yield normalise_room(raw_room), obj


def _flatten_contacts(out: Flattened, room: str, contacts: object) -> None:
    """The door and window contacts of one room (rule 2: one object or a list; the type is never guessed)."""
    skipped = out.skipped
    if isinstance(contacts, dict):  # rule 2: a single object instead of a list
        contacts = [contacts]
    if not isinstance(contacts, list):
        if contacts is not None:
            skipped["malformed contact"] += 1
        return
    seen: Counter[str] = Counter()  # position among contacts of the same type in this room
    for contact in contacts:
        if not isinstance(contact, dict):
            skipped["malformed contact"] += 1
            continue
        raw_type = contact.get("type")
        sensor_type = CONTACT_TYPES.get(raw_type.lower()) if isinstance(raw_type, str) else None
        if sensor_type is None:  # rule 2: never guess the type
            skipped["contact without known type"] += sum(
                1 for key in ("switch", "battery") if contact.get(key) is not None
            )
            continue
        index = seen[sensor_type]
        seen[sensor_type] += 1
        switch = contact.get("switch")
        if switch is not None:  # rule 2: no switch, no 'open' row (unknown is not closed)
            state = SWITCH_STATES.get(switch.lower()) if isinstance(switch, str) else _number(switch)
            if state is None:
                skipped[f"non-numeric {sensor_type}.open"] += 1
            else:
                out.readings.append(((room, sensor_type, "open", index), "bool", state))
        _take(out, contact, room, sensor_type, (("battery", "battery", "%"),), index)


def flatten_payload(payload: dict) -> Flattened:
    """All readings of one file, in a stable order, plus the count of skipped readings by reason."""
    out = Flattened()
    skipped = out.skipped

    for room, obj in _rooms(out, payload.get("plugs"), "plugs"):
        if isinstance(obj, dict):
            _take(out, obj, room, "plug", PLUG_FIELDS)
        elif obj is not None:
            skipped["malformed plug"] += 1

    for room, contacts in _rooms(out, payload.get("doorsWindows"), "doorsWindows"):
        _flatten_contacts(out, room, contacts)

    for room, obj in _rooms(out, payload.get("motions"), "motions"):
        if not isinstance(obj, dict):
            if obj is not None:
                skipped["malformed motion"] += 1
            continue
        _take(out, obj, room, "motion", (("motion", "motion", "bool"),))
        _take(out, obj, room, "motion", MOTION_FIELDS)

    meteos = payload.get("meteos")
    if isinstance(meteos, dict) and isinstance(meteos.get("meteo"), dict):
        meteos = meteos["meteo"]  # nested form; otherwise the flat variant is the station map itself
    for room, obj in _rooms(out, meteos, "meteos"):
        if isinstance(obj, dict):
            _take(out, obj, room, "meteo", METEO_FIELDS)
        elif obj is not None:
            skipped["malformed meteo"] += 1

    for room, obj in _rooms(out, payload.get("humidities"), "humidities"):
        if isinstance(obj, dict):
            _take(out, obj, room, "humidity", HUMIDITY_FIELDS)
        elif obj is not None:
            skipped["malformed humidity"] += 1

    for room, obj in _rooms(out, payload.get("consumptions"), "consumptions"):
        if isinstance(obj, dict):
            _take(out, obj, room, "consumption", CONSUMPTION_FIELDS)
        elif obj is not None:
            skipped["malformed consumption"] += 1

    return out


def parse_payload_minute(text: object) -> datetime | None:
    """``DD.MM.YYYY HH:MM`` as a naive datetime, or None when missing or unparsable (rule 4)."""
    if not isinstance(text, str) or len(text) != 16 or text[2] != "." or text[5] != "." or text[13] != ":":
        return None
    try:
        return datetime(int(text[6:10]), int(text[3:5]), int(text[0:2]), int(text[11:13]), int(text[14:16]))
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------- fast path
#
# The loader does not call flatten_payload: it runs this fused version, which walks the payload the same way
# but formats COPY lines directly, looking series up through nested dicts (no tuple per reading). It must
# produce exactly the readings of flatten_payload, in the same order; tests/unit/test_flatten_fast.py checks
# that on generated files with every fault kind. flatten_payload stays the readable specification.

#
# Rows are binary COPY tuples (PostgreSQL's binary COPY format): the per-file prefix (field count, timestamp,
# file id) and the per-series suffix (series id, outlier flag) are prebuilt bytes, so a reading costs one
# struct.pack of its value and two concatenations, and the server parses no text.

# (sensor_type, room, index) -> {field: (low, high, row suffix when in bounds, row suffix when outlier)}
SeriesCache = dict[tuple[str, str, int], dict[str, tuple[float, float, bytes, bytes]]]
# Called for a series not in the cache: (sensor_type, room, index, field, unit) -> the new cache entry.
CreateSeries = Callable[[str, str, int, str, str], tuple[float, float, bytes, bytes]]
PACK_VALUE = struct.Struct(">id").pack  # (8, value): length-prefixed float8


def _emit(out: list[bytes], skipped: Counter[str], prefix: bytes, obj: dict, fields: tuple,
          fields_cache: dict, create: CreateSeries, sensor_type: str, room: str, index: int) -> None:
    get = obj.get
    for key, name, unit in fields:
        raw = get(key)
        if raw is None:
            continue
        kind = type(raw)
        if kind is float:
            if raw - raw != 0.0:
                skipped[f"non-numeric {sensor_type}.{name}"] += 1
                continue
            value = raw
        elif kind is int:
            value = float(raw)
        elif kind is bool:
            value = 1.0 if raw else 0.0
        else:
            skipped[f"non-numeric {sensor_type}.{name}"] += 1
            continue
        entry = fields_cache.get(name) or create(sensor_type, room, index, name, unit)
        out.append(prefix + PACK_VALUE(8, value) + (entry[2] if entry[0] <= value <= entry[1] else entry[3]))


def _emit_contacts(out: list[bytes], skipped: Counter[str], prefix: bytes, room: str, contacts: object,
                   fields_of: Callable[..., dict], create: CreateSeries) -> None:
    """The COPY rows of one room's door and window contacts (as ``_flatten_contacts``)."""
    if isinstance(contacts, dict):
        contacts = [contacts]
    if not isinstance(contacts, list):
        if contacts is not None:
            skipped["malformed contact"] += 1
        return
    seen: dict[str, int] = {}
    for contact in contacts:
        if not isinstance(contact, dict):
            skipped["malformed contact"] += 1
            continue
        raw_type = contact.get("type")
        sensor_type = CONTACT_TYPES.get(raw_type.lower()) if isinstance(raw_type, str) else None
        if sensor_type is None:
            skipped["contact without known type"] += sum(
                1 for key in ("switch", "battery") if contact.get(key) is not None)
            continue
        index = seen.get(sensor_type, 0)
        seen[sensor_type] = index + 1
        cached = fields_of(sensor_type, room, index)
        switch = contact.get("switch")
        if switch is not None:
            state = SWITCH_STATES.get(switch.lower()) if isinstance(switch, str) else _number(switch)
            if state is None:
                skipped[f"non-numeric {sensor_type}.open"] += 1
            else:
                entry = cached.get("open") or create(sensor_type, room, index, "open", "bool")
                out.append(prefix + PACK_VALUE(8, state) + (entry[2] if entry[0] <= state <= entry[1] else entry[3]))
        _emit(out, skipped, prefix, contact, (("battery", "battery", "%"),), cached, create, sensor_type, room,
              index)


def payload_copy_lines(payload: dict, prefix: bytes, cache: SeriesCache, create: CreateSeries,
                       out: list[bytes], skipped: Counter[str]) -> None:
    """Append one binary COPY row per reading of ``payload`` to ``out`` (see the note above)."""

    def fields_of(sensor_type: str, room: str, index: int = 0) -> dict:
        key = (sensor_type, room, index)
        found = cache.get(key)
        if found is None:
            found = cache[key] = {}
        return found

    rooms = ROOM_NAMES.get
    section = payload.get("plugs")
    if section is not None:
        if not isinstance(section, dict):
            skipped["malformed plugs"] += 1
        else:
            for raw_room, obj in section.items():
                if type(obj) is dict:
                    room = rooms(raw_room, raw_room)
                    _emit(out, skipped, prefix, obj, PLUG_FIELDS, fields_of("plug", room), create, "plug", room, 0)
                elif obj is not None:
                    skipped["malformed plug"] += 1

    section = payload.get("doorsWindows")
    if section is not None:
        if not isinstance(section, dict):
            skipped["malformed doorsWindows"] += 1
        else:
            for raw_room, contacts in section.items():
                _emit_contacts(out, skipped, prefix, rooms(raw_room, raw_room), contacts, fields_of, create)

    section = payload.get("motions")
    if section is not None:
        if not isinstance(section, dict):
            skipped["malformed motions"] += 1
        else:
            for raw_room, obj in section.items():
                if type(obj) is not dict:
                    if obj is not None:
                        skipped["malformed motion"] += 1
                    continue
                room = rooms(raw_room, raw_room)
                _emit(out, skipped, prefix, obj, _MOTION_ALL, fields_of("motion", room), create, "motion", room, 0)

    meteos = payload.get("meteos")
    if isinstance(meteos, dict) and isinstance(meteos.get("meteo"), dict):
        meteos = meteos["meteo"]
    for category, section, sensor_type, fields in (
        ("meteos", meteos, "meteo", METEO_FIELDS),
        ("humidities", payload.get("humidities"), "humidity", HUMIDITY_FIELDS),
        ("consumptions", payload.get("consumptions"), "consumption", CONSUMPTION_FIELDS),
    ):
        if section is None:
            continue
        if not isinstance(section, dict):
            skipped[f"malformed {category}"] += 1
            continue
        for raw_room, obj in section.items():
            if type(obj) is dict:
                room = rooms(raw_room, raw_room)
                _emit(out, skipped, prefix, obj, fields, fields_of(sensor_type, room), create, sensor_type, room, 0)
            elif obj is not None:
                skipped[f"malformed {sensor_type}"] += 1


_MOTION_ALL = (("motion", "motion", "bool"), *MOTION_FIELDS)
