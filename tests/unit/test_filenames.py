"""File-name parsing and prediction, including day/month/year and DST boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domotic.sensors.names import (
    BadFileName,
    bronze_dir,
    canonical_name,
    day_prefixes,
    parse_sensor_name,
    predict_names,
    sensor_name,
    versioned_name,
)
from tests.fixtures.sensors import REGISTRY


def test_parse_known_handles_case_insensitive():
    parsed = parse_sensor_name("18.08.2023 1000_JimmyLoup_received.json", REGISTRY)
    assert (parsed.apartment, parsed.handle, parsed.minute_utc) == (
        "jimmy", "JimmyLoup", datetime(2023, 8, 18, 10, 0, tzinfo=UTC))
    assert parse_sensor_name("18.08.2023 1000_jeremievianin_received.json", REGISTRY).apartment == "jeremie"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("garbage.json", "does not match"),
        ("18.08.2023 1000_Nobody_received.json", "unknown owner handle 'Nobody'"),
        ("32.08.2023 1000_JimmyLoup_received.json", "invalid date/time"),
        ("18.13.2023 1000_JimmyLoup_received.json", "invalid date/time"),
        ("18.08.2023 2460_JimmyLoup_received.json", "invalid date/time"),
        ("18.08.2023 10:00_JimmyLoup_received.json", "does not match"),
    ],
)
def test_bad_names_say_why(name, reason):
    with pytest.raises(BadFileName, match=reason):
        parse_sensor_name(name, REGISTRY)


@pytest.mark.parametrize(
    ("minute", "expected"),
    [
        (datetime(2023, 8, 18, 10, 0, tzinfo=UTC),
         ["18.08.2023 1000_JimmyLoup_received.json", "18.08.2023 1000_JeremieVianin_received.json"]),
        (datetime(2023, 8, 31, 23, 59, tzinfo=UTC),
         ["31.08.2023 2359_JimmyLoup_received.json", "31.08.2023 2359_JeremieVianin_received.json"]),
        (datetime(2023, 12, 31, 23, 59, tzinfo=UTC),
         ["31.12.2023 2359_JimmyLoup_received.json", "31.12.2023 2359_JeremieVianin_received.json"]),
        (datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
         ["01.01.2024 0000_JimmyLoup_received.json", "01.01.2024 0000_JeremieVianin_received.json"]),
        (datetime(2024, 2, 29, 12, 5, tzinfo=UTC),
         ["29.02.2024 1205_JimmyLoup_received.json", "29.02.2024 1205_JeremieVianin_received.json"]),
    ],
)
def test_predict_names_across_boundaries(minute, expected):
    assert predict_names(minute, REGISTRY) == expected
    for name in expected:
        assert parse_sensor_name(name, REGISTRY).minute_utc == minute


def test_prediction_in_a_local_source_clock_round_trips():
    # 2023-10-29 00:30 UTC is 02:30 CEST (before the fall-back) in Zurich.
    minute = datetime(2023, 10, 29, 0, 30, tzinfo=UTC)
    name = sensor_name("JimmyLoup", minute, "Europe/Zurich")
    assert name == "29.10.2023 0230_JimmyLoup_received.json"
    assert parse_sensor_name(name, REGISTRY, "Europe/Zurich").minute_utc == minute


def test_day_prefixes_utc_and_local():
    assert day_prefixes(date(2023, 8, 31)) == ["31.08.2023 "]
    assert day_prefixes(date(2023, 8, 31), "Europe/Zurich") == ["31.08.2023 ", "01.09.2023 "]


def test_bronze_layout_and_versions(tmp_path):
    minute = datetime(2023, 8, 18, 9, 59, tzinfo=UTC)
    assert bronze_dir(tmp_path, "jimmy", minute) == tmp_path / "jimmy" / "2023" / "08" / "18" / "09"
    name = "18.08.2023 0959_JimmyLoup_received.json"
    version = versioned_name(name, "abcdef0123456789")
    assert version == name + ".abcdef012345"
    assert canonical_name(version) == name
    assert parse_sensor_name(version, REGISTRY).minute_utc == minute


def test_a_day_is_chunked_by_work_in_whole_hours():
    """Two apartments' day is one chunk by default; a small cap gives whole hours, in time order."""
    from domotic.sensors.load import ShareListing

    names = [f"n{hour:02d}_{i}" for hour in range(24) for i in range(120)]
    listing = ShareListing(names, ["bad.json"], len(names) + 1, [int(n[1:3]) for n in names])
    assert [len(c) for c in listing.chunks(20_000)] == [2881]  # the bad name rides with the first chunk
    quarters = listing.chunks(720)
    assert [len(c) for c in quarters] == [721, 720, 720, 720]
    assert quarters[1][0] == "n06_0" and quarters[1][-1] == "n11_119"
    # an hour bigger than the cap is a chunk of its own, never split
    assert [len(c) for c in ShareListing(names[:240], [], 240, [0] * 120 + [1] * 120).chunks(100)] == [120, 120]


def test_the_registry_is_data_handles_and_clocks_per_apartment():
    """A third apartment exists once the registry says so; its own source clock places its names."""
    from domotic.sensors.names import Apartment, ApartmentRegistry

    registry = ApartmentRegistry([*REGISTRY, Apartment("alice", "AliceMartin", "Europe/Zurich")])
    minute = datetime(2023, 10, 29, 0, 30, tzinfo=UTC)
    names = predict_names(minute, registry)
    assert names[-1] == "29.10.2023 0230_AliceMartin_received.json" and names[0].startswith("29.10.2023 0030_")
    parsed = parse_sensor_name(names[-1], registry)
    assert (parsed.apartment, parsed.minute_utc, parsed.source_tz) == ("alice", minute, "Europe/Zurich")
    with pytest.raises(BadFileName, match="unknown owner handle 'AliceMartin'"):
        parse_sensor_name(names[-1], REGISTRY)
    assert registry.zones("UTC") == ["Europe/Zurich", "UTC"]
    with pytest.raises(ValueError, match="registered twice"):
        ApartmentRegistry([Apartment("a", "Same"), Apartment("b", "SAME")])


@pytest.mark.parametrize(
    ("handle", "taken", "expected"),
    [
        ("JimmyLoup", (), "jimmy"),
        ("JeremieVianin", ("jimmy",), "jeremie"),
        ("JimmyMartin", ("jimmy",), "jimmymartin"),
        ("JimmyLoup", ("jimmy", "jimmyloup"), "jimmyloup_2"),
        ("Zoé.Müller", (), "zoe"),
        ("42Flat", (), "a42"),
    ],
)
def test_apartment_ids_derive_from_the_handle(handle, taken, expected):
    from domotic.warehouse.tenants import derive_apartment_id

    assert derive_apartment_id(handle, taken) == expected


def test_the_handle_is_the_last_word_of_house_name():
    from domotic.warehouse.tenants import handle_from_house_name

    assert handle_from_house_name("Appartement JimmyLoup") == "JimmyLoup"
    assert handle_from_house_name("Maison  JeremieVianin ") == "JeremieVianin"
    assert handle_from_house_name("") is None and handle_from_house_name("Chez moi/toi") is None
    assert handle_from_house_name("Chez nous") is None and handle_from_house_name("Maison Dupont") is None


def test_pidb_buildings_plan_the_registry():
    """New handles become apartments (ids derived, collisions resolved); known handles get their building."""
    from domotic.warehouse.tenants import RegisteredApartment, plan_buildings

    rows = [RegisteredApartment("jimmy", "JimmyLoup", None, None, None, date(2023, 8, 1), None),
            RegisteredApartment("jeremie", "JeremieVianin", 2, None, None, date(2023, 8, 1), None)]
    buildings = [(1, "Appartement JimmyLoup"), (2, "Maison JeremieVianin"), (3, "Studio JimmyMartin"),
                 (4, "Chalet AliceMartin"), (5, "Chez nous"), (6, "Loft alicemartin"), (7, None)]
    new, fill = plan_buildings(rows, buildings)
    assert fill == [("jimmy", 1)]
    assert new == [("jimmymartin", "JimmyMartin", 3), ("alice", "AliceMartin", 4)]
