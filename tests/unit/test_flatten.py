"""Flattening of every row of design.md's table, every variant and every rule."""

from __future__ import annotations

from datetime import datetime

import pytest

from domotic.sensors.flatten import flatten_payload, normalise_room, parse_payload_minute
from domotic.sensors.outliers import DEFAULT_BOUNDS, bounds_for, parse_overrides
from tests.fixtures.sensors import EXAMPLE


def rows(payload):
    return {key: (unit, value) for key, unit, value in flatten_payload(payload).readings}


def test_example_flattens_to_49_readings_by_category():
    flat = flatten_payload(EXAMPLE)
    assert len(flat.readings) == 49
    by_type = {}
    for reading in flat.readings:
        by_type[reading[0][1]] = by_type.get(reading[0][1], 0) + 1
    assert by_type == {"plug": 9, "door": 4, "window": 4, "motion": 6, "meteo": 13, "humidity": 3, "consumption": 10}
    assert not flat.skipped


def test_every_row_of_the_flattening_table():
    got = rows(EXAMPLE)
    expected = {
        ("Living Room", "plug", "power", 0): ("W", 41.35),
        ("Living Room", "plug", "total", 0): ("Wh", 58214.0),
        ("Living Room", "plug", "temperature", 0): ("°C", 29.8),
        ("WashingMachine", "plug", "power", 0): ("W", 0.0),
        ("Bedroom", "window", "open", 0): ("bool", 0.0),
        ("Bedroom", "window", "battery", 0): ("%", 90.0),
        ("Bedroom", "door", "open", 0): ("bool", 1.0),
        ("Bedroom", "door", "battery", 0): ("%", 85.0),
        ("Bathroom", "door", "open", 0): ("bool", 0.0),
        ("Living Room", "motion", "motion", 0): ("bool", 1.0),
        ("Kitchen", "motion", "motion", 0): ("bool", 0.0),
        ("Living Room", "motion", "light", 0): ("lux", 212.0),
        ("Living Room", "motion", "temperature", 0): ("°C", 22.4),
        ("Living Room", "meteo", "temperature_c", 0): ("°C", 22.8),
        ("Living Room", "meteo", "co2_ppm", 0): ("ppm", 734.0),
        ("Living Room", "meteo", "humidity_pct", 0): ("%", 51.0),
        ("Living Room", "meteo", "noise_db", 0): ("dB", 38.0),
        ("Living Room", "meteo", "pressure_hpa", 0): ("hPa", 1018.4),
        ("Living Room", "meteo", "abs_pressure_hpa", 0): ("hPa", 957.2),
        ("Bedroom", "meteo", "battery", 0): ("%", 77.0),
        ("Outdoor", "meteo", "temperature_c", 0): ("°C", 14.3),
        ("Bathroom", "humidity", "temperature", 0): ("°C", 23.9),
        ("Bathroom", "humidity", "humidity", 0): ("%", 66.2),
        ("Bathroom", "humidity", "battery", 0): ("%", 88.0),
        ("House", "consumption", "total_power", 0): ("W", 412.7),
        ("House", "consumption", "power2", 0): ("W", 96.4),
        ("House", "consumption", "current3", 0): ("A", 0.65),
        ("House", "consumption", "voltage1", 0): ("V", 231.9),
    }
    for key, value in expected.items():
        assert got[key] == value, key
    assert ("Outdoor", "meteo", "co2_ppm", 0) not in got  # absent key -> no row


def test_room_normalisation_rule_1():
    assert [normalise_room(r) for r in ("Bhroom", "Bdroom", "Livingroom", "Office", "Dryer")] == [
        "Bathroom", "Bedroom", "Living Room", "Office", "Dryer"]


def test_contact_variants_rule_2():
    payload = {"doorsWindows": {
        "Kitchen": [{"type": "window", "switch": "ON", "battery": 70}, {"type": "WINDOW", "switch": "Off"}],
        "Office": {"type": "Door", "switch": "on", "battery": 50},  # single object instead of a list
        "Bdroom": [{"type": "Door", "battery": 40}],  # no switch: battery only, no 'open'
        "Bhroom": [{"switch": "on", "battery": 30}],  # no type: not guessed, skipped and counted
    }}
    flat = flatten_payload(payload)
    got = {key: value for key, _, value in flat.readings}
    assert got == {
        ("Kitchen", "window", "open", 0): 1.0,
        ("Kitchen", "window", "battery", 0): 70.0,
        ("Kitchen", "window", "open", 1): 0.0,  # the second window of the room is kept apart
        ("Office", "door", "open", 0): 1.0,
        ("Office", "door", "battery", 0): 50.0,
        ("Bedroom", "door", "battery", 0): 40.0,
    }
    assert flat.skipped == {"contact without known type": 2}


def test_nulls_and_non_numeric_values_rule_3():
    payload = {
        "plugs": {"Office": {"power": None, "total": "n/a", "temperature": 25}},
        "motions": {"Office": {"motion": "true", "light": 10}},
        "doorsWindows": {"Office": [{"type": "Door", "switch": "ajar", "battery": 10}]},
    }
    flat = flatten_payload(payload)
    got = {(key[1], key[2]): value for key, _, value in flat.readings}
    assert got == {("plug", "temperature"): 25.0, ("motion", "light"): 10.0, ("door", "battery"): 10.0}
    assert flat.skipped == {"non-numeric plug.total": 1, "non-numeric motion.motion": 1, "non-numeric door.open": 1}


def test_flat_meteos_variant():
    nested = rows({"meteos": {"meteo": {"Outdoor": {"Temperature": 5.0}}}})
    flat = rows({"meteos": {"Outdoor": {"Temperature": 5.0}}})
    assert nested == flat == {("Outdoor", "meteo", "temperature_c", 0): ("°C", 5.0)}


def test_motion_numbers_pass_through():
    assert rows({"motions": {"Office": {"motion": 1}}}) == {("Office", "motion", "motion", 0): ("bool", 1.0)}


def test_secrets_never_become_readings_rule_6():
    for reading in flatten_payload(EXAMPLE).readings:
        assert "tok_" not in str(reading) and "JeremieVianin" not in str(reading)


def test_malformed_sections_are_counted_not_fatal():
    flat = flatten_payload({"plugs": [1, 2], "motions": {"Office": 5}, "humidities": {"Bhroom": {"humidity": 50}}})
    assert [key[2] for key, _, _ in flat.readings] == ["humidity"]
    assert flat.skipped == {"malformed plugs": 1, "malformed motion": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14.09.2023 08:17", datetime(2023, 9, 14, 8, 17)),
        ("29.02.2024 23:59", datetime(2024, 2, 29, 23, 59)),
        ("32.13.2023 25:61", None),
        ("", None),
        (None, None),
        ("2023-09-14 08:17", None),
        (20230914, None),
    ],
)
def test_payload_minute_rule_4(text, expected):
    assert parse_payload_minute(text) == expected


@pytest.mark.parametrize(
    ("sensor_type", "field", "bounds"),
    [
        ("plug", "temperature", (-20, 60)),
        ("motion", "temperature", (-20, 60)),
        ("humidity", "temperature", (-20, 60)),
        ("meteo", "temperature_c", (-20, 60)),
        ("humidity", "humidity", (0, 100)),
        ("meteo", "humidity_pct", (0, 100)),
        ("meteo", "co2_ppm", (300, 5000)),
        ("meteo", "noise_db", (0, 140)),
        ("meteo", "pressure_hpa", (870, 1085)),
        ("door", "battery", (0, 100)),
        ("meteo", "battery", (0, 100)),
        ("humidity", "battery", (0, 100)),
        ("plug", "power", (0, 10000)),
    ],
)
def test_outlier_bounds_rule_5(sensor_type, field, bounds):
    assert bounds_for(sensor_type, field) == bounds


def test_outlier_overrides():
    table = {**DEFAULT_BOUNDS, **parse_overrides('{"plug.power": [0, 3600], "*.light": [0, 5000]}')}
    assert bounds_for("plug", "power", table) == (0, 3600)
    assert bounds_for("motion", "light", table) == (0, 5000)
    with pytest.raises(ValueError, match="bad entry 'power'"):
        parse_overrides('{"power": [0, 1]}')
