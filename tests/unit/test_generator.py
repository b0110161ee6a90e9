"""Unit tests of the sensor JSON generator (domotic.generator.sensors and its CLI).

They pin what other modules rely on: names and shapes of the contract, determinism, sequential state, and
that every fault kind produces exactly what the report says. Ranges are short (hours, a day) to stay fast.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domotic.generator.cli import main
from domotic.generator.sensors import (
    APARTMENTS,
    FAULT_KINDS,
    HOUSE_KEYS,
    PAYLOAD_FAULTS,
    Faults,
    Report,
    SensorSimulator,
    file_name,
    parse_fault_args,
    readings_per_file,
    station_keys,
    write_range,
)

START = date(2023, 8, 18)
T0 = datetime(2023, 8, 18, tzinfo=UTC)
NAME_RE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2})(\d{2})_(JimmyLoup|JeremieVianin)_received\.json$")
TOP_KEYS = [
    "user",
    "api_token",
    "datetime",
    "plugs",
    "doorsWindows",
    "motions",
    "meteos",
    "humidities",
    "consumptions",
]
ROOM_SPELLINGS = {"Livingroom", "Bdroom", "Bhroom", "Office", "Kitchen", "Laundry", "Outdoor"}
APPLIANCES = {"Dishwasher", "Dryer", "WashingMachine"}
# design.md section 4 rule 5 bounds, by payload key
BOUNDS = {
    "temperature": (-20, 60),
    "Temperature": (-20, 60),
    "humidity": (0, 100),
    "Humidity": (0, 100),
    "CO2": (300, 5000),
    "battery": (0, 100),
    "battery_percent": (0, 100),
    "devicePower": (0, 100),
    "power": (0, 10000),
}


def load(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())


def get(payload: Any, path: str) -> Any:
    node = payload
    for key in path.split("/"):
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


def count_readings(payload: dict[str, Any]) -> int:
    """Readings a clean payload flattens to under design.md section 4 (independent of the generator)."""
    n = sum(1 for plug in payload["plugs"].values() for k in ("power", "total", "temperature") if k in plug)
    for contacts in payload["doorsWindows"].values():
        n += sum(("switch" in c) + ("battery" in c) for c in contacts)
    n += sum(len({"motion", "light", "temperature"} & set(m)) for m in payload["motions"].values())
    meteo_keys = {
        "Temperature",
        "CO2",
        "Humidity",
        "Noise",
        "Pressure",
        "AbsolutePressure",
        "battery_percent",
    }
    n += sum(len(meteo_keys & set(s)) for s in payload["meteos"]["meteo"].values())
    n += sum(len({"temperature", "humidity", "devicePower"} & set(h)) for h in payload["humidities"].values())
    house_keys = {"total_power", *(f"{k}{i}" for k in ("power", "current", "voltage") for i in (1, 2, 3))}
    n += sum(len(house_keys & set(h)) for h in payload["consumptions"].values())
    return n


def minute_of(name: str) -> datetime:
    d, mo, y, h, mi, _ = NAME_RE.match(name).groups()  # type: ignore[union-attr]
    return datetime(int(y), int(mo), int(d), int(h), int(mi), tzinfo=UTC)


@pytest.fixture(scope="module")
def one_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    out = tmp_path_factory.mktemp("one_day")
    return write_range(out, START, START + timedelta(days=1), seed=42), out


# --------------------------------------------------------------------------------------------------------------
# Names, shape, contract
# --------------------------------------------------------------------------------------------------------------


def test_one_file_per_apartment_per_minute(one_day: tuple[Report, Path]) -> None:
    report, out = one_day
    on_disk = set(os.listdir(out))
    assert report.files_written == len(on_disk) == 2 * 1440
    assert on_disk == set(report.file_names)
    expected = {
        file_name(handle, T0 + timedelta(minutes=m))
        for m in range(1440)
        for handle in ("JimmyLoup", "JeremieVianin")
    }
    assert on_disk == expected
    assert "18.08.2023 1000_JimmyLoup_received.json" in on_disk
    assert report.fault_counts() == dict.fromkeys(FAULT_KINDS, 0)
    assert report.repeated == []


def test_names_and_payload_labels_agree(one_day: tuple[Report, Path]) -> None:
    report, out = one_day
    for name in report.file_names[::37]:
        match = NAME_RE.match(name)
        assert match, name
        d, mo, y, h, mi, handle = match.groups()
        payload = load(out / name)
        assert list(payload) == TOP_KEYS
        assert payload["user"] == handle
        assert payload["api_token"] == APARTMENTS[handle].api_token
        assert payload["api_token"].startswith("tok_")
        assert payload["datetime"] == f"{d}.{mo}.{y} {h}:{mi}"
        datetime.strptime(payload["datetime"], "%d.%m.%Y %H:%M")


def test_payload_shape_follows_inventory(one_day: tuple[Report, Path]) -> None:
    report, out = one_day
    for name in report.file_names[::211]:
        payload = load(out / name)
        inv = APARTMENTS[payload["user"]]
        assert list(payload["plugs"]) == list(inv.plugs)
        for plug in payload["plugs"].values():
            assert list(plug) == ["power", "total", "temperature", "overtemperature", "switch"]
            assert is_number(plug["power"]) and type(plug["total"]) is int and is_number(plug["temperature"])
            assert plug["overtemperature"] is False and plug["switch"] in ("on", "off")
        assert list(payload["doorsWindows"]) == list(inv.doors_windows)
        for room, contacts in payload["doorsWindows"].items():
            assert isinstance(contacts, list)
            assert [c["type"] for c in contacts] == list(inv.doors_windows[room])
            for c in contacts:
                assert c["switch"] in ("on", "off") and type(c["battery"]) is int and c["defense"] == 0
        assert list(payload["motions"]) == list(inv.motions)
        for m in payload["motions"].values():
            assert type(m["motion"]) is bool and type(m["light"]) is int and type(m["temperature"]) is float
        stations = payload["meteos"]["meteo"]
        assert list(payload["meteos"]) == ["meteo"]
        assert list(stations) == list(inv.meteo_stations)
        for station, values in stations.items():
            assert tuple(values) == station_keys(inv, station)
            assert all(is_number(v) for v in values.values())
        assert "battery_percent" not in stations["Livingroom"] and "Noise" in stations["Livingroom"]
        assert set(stations["Outdoor"]) == {"Temperature", "Humidity", "battery_percent"}
        assert list(payload["humidities"]) == list(inv.humidities)
        for h in payload["humidities"].values():
            assert list(h) == ["temperature", "humidity", "devicePower"]
        assert list(payload["consumptions"]) == ["House"]
        assert tuple(payload["consumptions"]["House"]) == HOUSE_KEYS
        raw_keys = (
            set(payload["plugs"]) | set(payload["doorsWindows"]) | set(payload["motions"]) | set(stations)
        )
        assert raw_keys <= ROOM_SPELLINGS | APPLIANCES


def test_inventories_as_specified() -> None:
    jimmy, jeremie = APARTMENTS["JimmyLoup"], APARTMENTS["JeremieVianin"]
    assert (jimmy.apartment, jeremie.apartment) == ("jimmy", "jeremie")
    assert jimmy.plugs == ("Livingroom", "Office", "Dishwasher")
    assert jeremie.plugs == ("Livingroom", "Office", "WashingMachine", "Dryer")
    assert jeremie.doors_windows["Kitchen"] == ("Window", "Window")  # same type twice, on purpose
    assert jimmy.meteo_stations == ("Livingroom", "Office", "Bdroom", "Outdoor")
    assert jeremie.meteo_stations == ("Livingroom", "Bdroom", "Outdoor")
    assert jeremie.humidities == ("Bhroom", "Laundry")


def test_readings_per_file(one_day: tuple[Report, Path]) -> None:
    report, out = one_day
    assert readings_per_file("JimmyLoup") == 63
    assert readings_per_file("JeremieVianin") == 65
    for name in report.file_names[:40]:
        payload = load(out / name)
        n = count_readings(payload)
        assert n == readings_per_file(payload["user"])
        assert 49 <= n <= 65  # legacy-system.md 1.6: ~55 per file, range 50-65


def test_file_size_and_mtime_are_realistic(one_day: tuple[Report, Path]) -> None:
    report, out = one_day
    for name in report.file_names[::101]:
        stat = (out / name).stat()
        assert 2_000 <= stat.st_size <= 5_000
        minute_end = minute_of(name) + timedelta(minutes=1)
        assert 5 <= stat.st_mtime - minute_end.timestamp() <= 15


# --------------------------------------------------------------------------------------------------------------
# Determinism and sequential state
# --------------------------------------------------------------------------------------------------------------


def read_all(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    start, end = datetime(2023, 8, 18, 6, 0), datetime(2023, 8, 18, 8, 0)
    faults = Faults(nulls=0.05, corrupt_json=0.05, missing_minutes=0.05)
    a = write_range(tmp_path / "a", start, end, faults, seed=7, history_start=START)
    b = write_range(tmp_path / "b", start, end, faults, seed=7, history_start=START)
    c = write_range(tmp_path / "c", start, end, faults, seed=8, history_start=START)
    assert read_all(tmp_path / "a") == read_all(tmp_path / "b")
    assert a.faults == b.faults and a.file_names == b.file_names
    assert read_all(tmp_path / "a") != read_all(tmp_path / "c")
    assert a.faults != c.faults
    for name in a.file_names:
        assert (tmp_path / "a" / name).stat().st_mtime == (tmp_path / "b" / name).stat().st_mtime


def test_sub_range_equals_the_same_days_of_a_longer_run(tmp_path: Path) -> None:
    faults = Faults(nulls=0.02, late_files=0.02, changed_redelivery=0.02)
    day2, day2_6h = datetime(2023, 8, 19), datetime(2023, 8, 19, 6)
    full = write_range(tmp_path / "full", START, day2_6h, faults, tmp_path / "fl", tmp_path / "fr", seed=3)
    tail = write_range(
        tmp_path / "tail",
        day2,
        day2_6h,
        faults,
        tmp_path / "tl",
        tmp_path / "tr",
        seed=3,
        history_start=START,
    )
    full_day2 = {n: b for n, b in read_all(tmp_path / "full").items() if n.startswith("19.08.2023")}
    assert len(full_day2) > 600
    assert read_all(tmp_path / "tail") == full_day2
    assert read_all(tmp_path / "tl") == {
        n: b for n, b in read_all(tmp_path / "fl").items() if n in tail.file_names
    }
    assert read_all(tmp_path / "tr") == {
        n: b for n, b in read_all(tmp_path / "fr").items() if n in tail.file_names
    }
    assert tail.file_names == [n for n in full.file_names if n.startswith("19.08.2023")]
    for kind in FAULT_KINDS:
        assert tail.faults[kind] == {n: d for n, d in full.faults[kind].items() if n.startswith("19.08.2023")}
    # A different history start is a different simulation (state carries), hence different counters.
    other = write_range(tmp_path / "other", day2, day2_6h, seed=3)
    first = other.file_names[0]
    assert read_all(tmp_path / "other")[first] != full_day2[first]


def test_step_api_matches_written_files_and_can_go_back(one_day: tuple[Report, Path]) -> None:
    _, out = one_day
    sim = SensorSimulator(42, START)
    later = sim.step(T0 + timedelta(hours=20))
    minute = T0 + timedelta(hours=10, minutes=5)
    payloads = sim.step(minute)  # earlier than the current day position: restarts transparently
    assert set(payloads) == set(APARTMENTS)
    for handle, payload in payloads.items():
        name = sim.file_name(handle, minute)
        assert payload == load(out / name)
        assert sim.payload_for(handle, minute) == payload
    assert sim.step(T0 + timedelta(hours=20)) == later
    with pytest.raises(ValueError, match="before"):
        sim.step(T0 - timedelta(days=2))


def test_source_tz_only_changes_labels(tmp_path: Path) -> None:
    start, end = datetime(2023, 8, 18, 10, 0, tzinfo=UTC), datetime(2023, 8, 18, 10, 30, tzinfo=UTC)
    utc = write_range(tmp_path / "utc", start, end, seed=5, history_start=START)
    zh = write_range(tmp_path / "zh", start, end, seed=5, history_start=START, source_tz="Europe/Zurich")
    assert zh.file_names[0] == "18.08.2023 1200_JimmyLoup_received.json"
    for u_name, z_name in zip(utc.file_names, zh.file_names, strict=True):
        assert minute_of(z_name) - minute_of(u_name) == timedelta(hours=2)
        u_payload, z_payload = load(tmp_path / "utc" / u_name), load(tmp_path / "zh" / z_name)
        assert z_payload["datetime"] == f"{z_name[:13]}:{z_name[13:15]}"
        assert {k: v for k, v in u_payload.items() if k != "datetime"} == {
            k: v for k, v in z_payload.items() if k != "datetime"
        }
    # Dates are midnight of the source clock: a Zurich day starts at 22:00 UTC the day before.
    assert zh.start == start and utc.start == start
    day = write_range(tmp_path / "zday", START, START + timedelta(days=1), seed=5, source_tz="Europe/Zurich")
    assert day.start == datetime(2023, 8, 17, 22, 0, tzinfo=UTC)
    assert day.file_names[0].startswith("18.08.2023 0000_")


def test_dst_days_in_a_summer_time_source_clock(tmp_path: Path) -> None:
    # Naive datetimes are source-clock times: 01:00-04:00 local spans 4 UTC hours in autumn, 2 in spring.
    sim = SensorSimulator(1, date(2023, 10, 28), "Europe/Zurich")
    autumn = write_range(tmp_path / "a", datetime(2023, 10, 29, 1), datetime(2023, 10, 29, 4), simulator=sim)
    assert autumn.end - autumn.start == timedelta(hours=4)
    assert autumn.files_written == len(os.listdir(tmp_path / "a")) == 2 * 180
    assert len(autumn.repeated) == 2 * 60 and all(n.startswith("29.10.2023 02") for n in autumn.repeated)
    sim = SensorSimulator(1, date(2024, 3, 30), "Europe/Zurich")
    spring = write_range(tmp_path / "s", datetime(2024, 3, 31, 1), datetime(2024, 3, 31, 4), simulator=sim)
    assert spring.files_written == 2 * 120
    assert not any(n.startswith("31.03.2024 02") for n in spring.file_names)


# --------------------------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------------------------


def series(sim: SensorSimulator, minutes: range, extract: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {h: [] for h in APARTMENTS}
    for m in minutes:
        for handle, payload in sim.step(T0 + timedelta(minutes=m)).items():
            out[handle].append(extract(payload))
    return out


def test_counters_only_grow_except_at_resets(tmp_path: Path) -> None:
    sim = SensorSimulator(3, START)
    days = 5
    totals = series(
        sim, range(days * 1440), lambda p: {k: (v["total"], v["power"]) for k, v in p["plugs"].items()}
    )
    resets = set(sim.counter_resets(T0, T0 + timedelta(days=days)))
    assert len(resets) >= 2, "seed 3 is expected to reset counters in its first days"
    seen_resets = set()
    for handle, rows in totals.items():
        for m in range(1, len(rows)):
            for plug, (total, power) in rows[m].items():
                prev_total, _ = rows[m - 1][plug]
                minute = T0 + timedelta(minutes=m)
                if total < prev_total:
                    assert (minute, handle, plug) in resets
                    assert total < 100
                    seen_resets.add((minute, handle, plug))
                else:
                    # grows by power/60 Wh per minute (integer counter over an exact accumulator)
                    assert total - prev_total <= math.floor(power / 60) + 1
    assert seen_resets == resets
    # The report names the file that shows the reset.
    day = date(2023, 8, 20)
    report = write_range(tmp_path, day, day + timedelta(days=1), seed=3, history_start=START)
    assert report.counter_resets == [("20.08.2023 0721_JeremieVianin_received.json", "Office")]
    before = load(tmp_path / "20.08.2023 0720_JeremieVianin_received.json")["plugs"]["Office"]["total"]
    after = load(tmp_path / "20.08.2023 0721_JeremieVianin_received.json")["plugs"]["Office"]["total"]
    assert after < 100 < before


def test_counter_resets_are_roughly_monthly() -> None:
    sim = SensorSimulator(42, START)
    resets = sim.counter_resets(T0, T0 + timedelta(days=70))
    per_plug = Counter((h, p) for _, h, p in resets)
    plugs = sum(len(inv.plugs) for inv in APARTMENTS.values())
    assert 5 <= len(resets) <= 3 * 70 * plugs // 30
    assert max(per_plug.values()) <= 8


def test_batteries_drain_slowly_and_are_replaced() -> None:
    sim = SensorSimulator(4, START)
    levels = series(
        sim,
        range(0, 60 * 1440, 360),
        lambda p: (
            [c["battery"] for cs in p["doorsWindows"].values() for c in cs]
            + [s["battery_percent"] for s in p["meteos"]["meteo"].values() if "battery_percent" in s]
            + [h["devicePower"] for h in p["humidities"].values()]
        ),
    )
    replaced = 0
    for rows in levels.values():
        for prev, cur in itertools.pairwise(rows):
            for a, b in zip(prev, cur, strict=True):
                assert 0 <= b <= 100 and type(b) is int
                if b > a:
                    assert b >= 99  # a new battery
                    replaced += 1
                else:
                    assert a - b <= 1  # at most 1 % per 6 h
        assert rows[0] != rows[-1]
    assert replaced >= 1


def test_values_stay_in_physical_ranges(one_day: tuple[Report, Path]) -> None:
    report, out = one_day
    for name in report.file_names[::13]:
        p = load(out / name)
        for station, values in p["meteos"]["meteo"].items():
            lo, hi = (5, 28) if station == "Outdoor" else (19, 24)
            assert lo <= values["Temperature"] <= hi
            if "CO2" in values:
                assert 400 <= values["CO2"] <= 1500
                assert 35 <= values["Humidity"] <= 70
            if "Pressure" in values:
                assert 990 <= values["Pressure"] <= 1035
                assert values["Pressure"] - values["AbsolutePressure"] == pytest.approx(60, abs=1)
                assert 25 <= values["Noise"] <= 80
        for m in p["motions"].values():
            assert 19 <= m["temperature"] <= 24 and 0 <= m["light"] <= 2000
        for h in p["humidities"].values():
            assert 35 <= h["humidity"] <= 95
        for plug in p["plugs"].values():
            assert 0 <= plug["power"] <= 2400
        house = p["consumptions"]["House"]
        assert house["total_power"] == pytest.approx(
            house["power1"] + house["power2"] + house["power3"], abs=0.011
        )
        assert house["total_power"] >= sum(plug["power"] for plug in p["plugs"].values())
        for i in (1, 2, 3):
            assert 230 <= house[f"voltage{i}"] <= 235
            assert house[f"current{i}"] == pytest.approx(house[f"power{i}"] / house[f"voltage{i}"], abs=0.006)
            assert 0.5 <= house[f"pf{i}"] <= 1


def test_signals_follow_occupancy_and_daylight() -> None:
    sim = SensorSimulator(42, START)
    week = series(
        sim,
        range(7 * 1440),
        lambda p: (
            sum(m["motion"] for m in p["motions"].values()),
            p["motions"]["Livingroom"]["light"],
            p["meteos"]["meteo"]["Bdroom"]["CO2"],
            max(v["power"] for v in p["plugs"].values()),
        ),
    )
    # Zurich is UTC+2: UTC 00-03 is 02-05 local (asleep), UTC 17-20 is 19-22 local, UTC 10-11 is noon.
    night = [d * 1440 + m for d in range(7) for m in range(0, 180)]
    evening = [d * 1440 + m for d in range(7) for m in range(17 * 60, 20 * 60)]
    noon = [d * 1440 + m for d in range(7) for m in range(10 * 60, 11 * 60)]
    for rows in week.values():
        assert sum(rows[m][0] for m in evening) > 5 * max(sum(rows[m][0] for m in night), 1)
        dark = sum(rows[m][1] for m in night) / len(night)
        bright = sum(rows[m][1] for m in noon) / len(noon)
        assert bright > 10 * max(dark, 1)
        assert sum(rows[m][2] for m in night) / len(night) > 800  # two sleepers in the bedroom
        assert max(r[3] for r in rows) > 1500  # at least one washing/dishwashing cycle in a week


# --------------------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------------------

FAULT_START, FAULT_END = datetime(2023, 8, 18, 18, 0), datetime(2023, 8, 18, 20, 0)  # 240 files


def generate_with(tmp_path: Path, **rates: float) -> Report:
    return write_range(
        tmp_path / "out",
        FAULT_START,
        FAULT_END,
        Faults(**rates),
        late_dir=tmp_path / "late",
        redelivery_dir=tmp_path / "redo",
        seed=9,
        history_start=START,
    )


def assert_clean(payload: dict[str, Any]) -> None:
    datetime.strptime(payload["datetime"], "%d.%m.%Y %H:%M")
    assert "meteo" in payload["meteos"]
    assert all(isinstance(c, list) for c in payload["doorsWindows"].values())
    assert count_readings(payload) == readings_per_file(payload["user"])
    for category in ("plugs", "motions", "humidities"):
        for values in payload[category].values():
            assert all((v is not None and not isinstance(v, str)) or k == "switch" for k, v in values.items())
            for key, (lo, hi) in BOUNDS.items():
                if key in values:
                    assert lo <= values[key] <= hi


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_produces_what_it_says(tmp_path: Path, kind: str) -> None:
    report = generate_with(tmp_path, **{kind: 0.3})
    hits = report.faults[kind]
    assert 30 <= len(hits) <= 120, report.fault_counts()
    assert {k for k, v in report.fault_counts().items() if v} == {kind}
    out, late, redo = tmp_path / "out", tmp_path / "late", tmp_path / "redo"
    on_disk = set(os.listdir(out))
    total = 2 * 120
    for name, detail in hits.items():
        if kind == "missing_minutes":
            assert name not in on_disk and name not in report.file_names
            continue
        if kind == "late_files":
            assert name not in on_disk and (late / name).exists() and name in report.file_names
            assert_clean(load(late / name))
            continue
        body = (out / name).read_bytes()
        if kind == "corrupt_json":
            assert detail == (f"bytes={len(body)}",)
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(body)
            continue
        payload = orjson.loads(body)
        if kind == "bad_datetime":
            assert payload["datetime"] == detail[0]
            with pytest.raises(ValueError):
                datetime.strptime(payload["datetime"], "%d.%m.%Y %H:%M")
        elif kind == "nulls":
            assert 1 <= len(detail) <= 3
            assert all(get(payload, path) is None for path in detail)
        elif kind == "out_of_range":
            for item in detail:
                path, value = item.split("=")
                assert get(payload, path) == float(value)
                lo, hi = BOUNDS[path.rsplit("/", 1)[1]]
                assert not lo <= get(payload, path) <= hi
        elif kind == "non_numeric":
            path, value = detail[0].split("=")
            assert get(payload, path) == value and isinstance(value, str)
            with pytest.raises(ValueError):
                float(value)
        elif kind == "single_object_contact":
            room, dropped = detail
            contact = payload["doorsWindows"][room]
            assert isinstance(contact, dict) and contact["type"] in ("Door", "Window") and "switch" in contact
            expected_dropped = len(APARTMENTS[payload["user"]].doors_windows[room]) - 1
            assert dropped == f"dropped={expected_dropped}"
        elif kind == "flat_meteos":
            assert "meteo" not in payload["meteos"]
            assert list(payload["meteos"]) == list(APARTMENTS[payload["user"]].meteo_stations)
        elif kind == "duplicate_delivery":
            again = redo / name
            assert again.read_bytes() == body
            assert again.stat().st_mtime - (out / name).stat().st_mtime == 3600
            assert_clean(payload)
        elif kind == "changed_redelivery":
            second = load(redo / name)
            assert_clean(payload)
            assert_clean(second)
            assert second != payload
            for path in detail:
                assert get(second, path) != get(payload, path)
            for key in ("plugs", "motions", "meteos", "humidities", "consumptions"):
                for room, values in payload[key].items():
                    if not any(p.startswith(f"{key}/{room}/") for p in detail):
                        assert second[key][room] == values
    # Everything not hit is a clean, on-time file.
    for name in report.file_names:
        if name not in hits:
            assert_clean(load(out / name))
    assert report.files_written + report.late_written + len(report.faults["missing_minutes"]) == total
    assert report.files_written == len(on_disk)
    if kind in ("duplicate_delivery", "changed_redelivery"):
        assert report.redelivered == len(hits) == len(os.listdir(redo))
    else:
        assert not redo.exists() or not os.listdir(redo)


def test_faults_are_exclusive_monotonic_and_leave_clean_files_unchanged(tmp_path: Path) -> None:
    all_payload = {k: 0.1 for k in PAYLOAD_FAULTS}
    report = generate_with(tmp_path / "a", **all_payload, duplicate_delivery=0.2, changed_redelivery=0.2)
    per_file = Counter(n for k in PAYLOAD_FAULTS for n in report.faults[k])
    assert per_file and max(per_file.values()) == 1
    assert not set(report.faults["duplicate_delivery"]) & set(report.faults["changed_redelivery"])

    low = generate_with(tmp_path / "low", nulls=0.1)
    high = generate_with(tmp_path / "high", nulls=0.3)
    assert set(low.faults["nulls"]) < set(high.faults["nulls"])

    generate_with(tmp_path / "clean")
    clean_files = read_all(tmp_path / "clean" / "out")
    for name, body in read_all(tmp_path / "high" / "out").items():
        if name not in high.faults["nulls"]:
            assert body == clean_files[name]


def test_fault_arguments_are_validated(tmp_path: Path) -> None:
    assert parse_fault_args(["nulls=0.01", "late_files=0.002,corrupt_json=0.5"]) == Faults(
        nulls=0.01, late_files=0.002, corrupt_json=0.5
    )
    assert parse_fault_args([]) == Faults()
    for bad, message in (
        (["bogus=0.1"], "unknown fault"),
        (["nulls"], "NAME=RATE"),
        (["nulls=x"], "not a number"),
        (["nulls=1.5"], "between 0 and 1"),
        (["nulls=0.1", "nulls=0.2"], "twice"),
        (["nulls=0.6", "corrupt_json=0.6"], "sum"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_fault_args(bad)
    with pytest.raises(ValueError, match="late_dir"):
        write_range(tmp_path / "x", START, START + timedelta(days=1), Faults(late_files=0.1))
    with pytest.raises(ValueError, match="redelivery_dir"):
        write_range(tmp_path / "x", START, START + timedelta(days=1), Faults(duplicate_delivery=0.1))
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


def test_cli_sensors_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "sensors",
            "--out",
            str(tmp_path / "out"),
            "--start",
            "2023-08-18",
            "--days",
            "1",
            "--seed",
            "42",
            "--fault",
            "nulls=0.01",
            "--fault",
            "late_files=0.01",
            "--late-dir",
            str(tmp_path / "late"),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert "nulls=" in lines[0] and "late_files=" in lines[0] and "wrote " in lines[0]
    written = len(os.listdir(tmp_path / "out")) + len(os.listdir(tmp_path / "late"))
    assert written == 2880
    same = read_all(tmp_path / "out")
    sample = sorted(same)[500]
    assert same[sample] == (Path(tmp_path / "out") / sample).read_bytes()


def test_cli_errors_and_module_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["sensors", "--out", str(tmp_path), "--start", "2023-08-18", "--fault", "late_files=0.1"]) == 2
    )
    assert "late_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sensors", "--out", str(tmp_path), "--start", "18.08.2023"])
    with pytest.raises(SystemExit):
        main([])
    done = subprocess.run(
        [sys.executable, "-m", "domotic.generator", "sensors", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--redelivery-dir" in done.stdout and "--source-tz" in done.stdout


def test_n_apartments_for_scale_tests_are_deterministic_and_varied(tmp_path):
    """apartments=N: the demo's two first (byte-identical), then synthetic inventories that vary by index and
    never by seed; every file parses against a registry holding their handles."""
    from domotic.generator.sensors import inventories, synthetic_inventory, write_range
    from domotic.sensors.names import ApartmentRegistry, parse_sensor_name

    four = inventories(4)
    assert [inv.handle for inv in four[:2]] == list(APARTMENTS) and four[2] == synthetic_inventory(2)
    assert (four[2].handle, four[2].apartment) == ("Owner0002", "owner0002")
    shapes = {(inv.plugs, tuple(inv.doors_windows.items()), inv.motions, inv.meteo_modules)
              for inv in inventories(12)[2:]}
    assert len(shapes) >= 8  # varied
    day = datetime(2023, 8, 18, 10, 0)
    two = write_range(tmp_path / "two", day, day + timedelta(minutes=3), seed=5)
    many = write_range(tmp_path / "many", day, day + timedelta(minutes=3), seed=5, apartments=4)
    assert len(many.file_names) == 12 and set(two.file_names) < set(many.file_names)
    for name in two.file_names:  # adding apartments changes nothing of the first two
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "many" / name).read_bytes()
    registry = ApartmentRegistry.of({inv.handle: inv.apartment for inv in four})
    assert {parse_sensor_name(n, registry).apartment for n in many.file_names} == {inv.apartment for inv in four}
    write_range(tmp_path / "again", day, day + timedelta(minutes=3), seed=5, apartments=4)
    assert all((tmp_path / "again" / n).read_bytes() == (tmp_path / "many" / n).read_bytes()
               for n in many.file_names)


def test_home_office_comes_in_weeks() -> None:
    """A workday is worked from home far more often when the day before (same week) was: remote weeks."""
    from domotic.generator.sensors import _BehaviourPlanner, inventories

    pairs: Counter[tuple[bool, bool]] = Counter()
    for index, inventory in enumerate(inventories()):
        planner = _BehaviourPlanner(7, index, inventory)
        first = date(2024, 1, 1).toordinal()  # a Monday
        for week in range(52):
            days = [planner.plan(first + 7 * week + d) for d in range(5)]
            for today, tomorrow in itertools.pairwise(days):
                if today.wake and tomorrow.wake:  # neither day inside an absence
                    pairs[today.home_office, tomorrow.home_office] += 1
    after_home = pairs[True, True] / (pairs[True, True] + pairs[True, False])
    after_office = pairs[False, True] / (pairs[False, True] + pairs[False, False])
    assert after_home > 0.6 > 0.2 > after_office
