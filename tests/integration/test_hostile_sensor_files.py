"""One bad sensor file costs only itself, against a real Postgres: the checks before COPY, the caps on series,
and, under them, the batch the database refuses split until the refused file is alone and quarantined with the
database's own reason."""

from __future__ import annotations

import random
import string
from datetime import timedelta

import psycopg
import pytest

from domotic.sensors import load as sensor_load
from domotic.sensors.load import LoadLimits, ingest_share_files, list_share_day
from domotic.sensors.names import sensor_name
from tests.fixtures.sensors import DAY, T0, fill_share, payload, write


@pytest.fixture
def folders(warehouse, tmp_path):
    share, bronze = tmp_path / "share", tmp_path / "bronze"
    share.mkdir()
    return {"share": share, "bronze": bronze, "connect": lambda: psycopg.connect(warehouse["conninfo"])}


def ingest(folders, limits: LoadLimits = sensor_load.DEFAULT_LIMITS, batch_files: int = 5000):
    listing = list_share_day(folders["share"], DAY)
    return ingest_share_files(folders["connect"], folders["share"], listing.names + listing.bad_names,
                              folders["bronze"], batch_files=batch_files, limits=limits).silver


def with_rooms(minute, *rooms: str, handle: str = "JimmyLoup") -> dict:
    body = payload(handle, minute)
    body["plugs"] = {**body["plugs"], **{room: {"power": 3.0} for room in rooms}}
    return body


def manifest(folders) -> dict[str, tuple[str, str | None]]:
    with folders["connect"]() as conn:
        return {name: (status, reason) for name, status, reason in conn.execute(
            "SELECT source_name, status, reason FROM silver.file_manifest WHERE is_current")}


@pytest.mark.parametrize(("room", "refusal"), [
    ("Bad\x00Room", "22"),  # NUL: psycopg refuses it client-side (DataError), SQLSTATE class 22 on the server
    # A key that does not compress: the series index row is too large (program_limit_exceeded).
    ("".join(random.Random(17).choices(string.ascii_letters, k=20_000)), "54000"),
])
def test_a_batch_the_database_refuses_is_split_and_only_the_culprit_is_quarantined(folders, monkeypatch, room,
                                                                                    refusal):
    """With the checks before COPY switched off, the database itself refuses the file: nothing else is lost."""
    monkeypatch.setattr(sensor_load, "room_problem", lambda room: None)
    good = fill_share(folders["share"], minutes=20)
    bad = sensor_name("JimmyLoup", T0 + timedelta(minutes=30))
    write(folders["share"], bad, with_rooms(T0 + timedelta(minutes=30), room))
    stats = ingest(folders)
    assert stats.files_loaded == len(good) and stats.files_quarantined == 1 and stats.batches_split >= 1
    rows = manifest(folders)
    assert {name for name, (status, _) in rows.items() if status == "loaded"} == set(good)
    status, reason = rows[bad]
    assert status == "quarantined" and reason.startswith("the database refused its content")
    assert refusal in reason or "NUL" in reason, reason
    with folders["connect"]() as conn:
        assert conn.execute("SELECT count(*) FROM silver.sensor_events").fetchone()[0] == len(good) * 49
    again = ingest(folders)
    assert again.files_loaded == again.files_quarantined == 0  # recorded once, not retried


def test_room_names_are_checked_before_any_series_is_created(folders):
    minute = T0 + timedelta(minutes=1)
    cases = {"Bad\x00Room": "holds control characters", "Line\nBreak": "holds control characters",
             "x" * 65: "has 65 characters, more than the 64 allowed", "   ": "is empty"}
    names = []
    for offset, room in enumerate(cases):
        name = sensor_name("JimmyLoup", minute + timedelta(minutes=offset))
        write(folders["share"], name, with_rooms(minute + timedelta(minutes=offset), "Office", room))
        names.append(name)
    write(folders["share"], sensor_name("JeremieVianin", minute), payload("JeremieVianin", minute))
    stats = ingest(folders)
    assert stats.files_loaded == 1 and stats.files_quarantined == 4
    rows = manifest(folders)
    for name, (room, why) in zip(names, cases.items(), strict=True):
        assert rows[name][0] == "quarantined" and rows[name][1].endswith(why), (room, rows[name])
    with folders["connect"]() as conn:
        rooms = {room for (room,) in conn.execute("SELECT DISTINCT room FROM silver.sensor_series")}
    assert all(room.isprintable() and len(room) <= 64 for room in rooms) and "Office" in rooms


def test_series_caps_quarantine_the_file_and_create_nothing(folders):
    minute = T0 + timedelta(minutes=2)
    many = sensor_name("JimmyLoup", minute)
    write(folders["share"], many, {**payload("JimmyLoup", minute),
                                   "plugs": {f"Room {i}": {"power": 1.0} for i in range(2_000)}})
    stats = ingest(folders, LoadLimits(max_series_per_file=1_000))
    assert stats.files_quarantined == 1 and stats.capped == {many: stats.quarantined[many]}
    assert "2040 readings in one file, over the cap sensor_max_series_per_file=1000" in stats.quarantined[many]
    with folders["connect"]() as conn:
        assert conn.execute("SELECT count(*) FROM silver.sensor_series").fetchone()[0] == 0

    # New series per apartment and UTC day of data: the first day brings its 49; a file bringing 30 more
    # rooms that day goes over a cap of 60 and is quarantined, the next day has its own count.
    write(folders["share"], sensor_name("JimmyLoup", T0), payload("JimmyLoup", T0))
    flood = sensor_name("JimmyLoup", T0 + timedelta(minutes=3))
    write(folders["share"], flood, with_rooms(T0 + timedelta(minutes=3), *(f"Extra {i}" for i in range(30))))
    limits = LoadLimits(max_new_series_per_day=60)
    stats = ingest(folders, limits)
    assert flood in stats.capped and "sensor_max_new_series_per_day=60" in stats.capped[flood]
    assert stats.files_loaded == 1
    with folders["connect"]() as conn:
        assert conn.execute("SELECT count(*), min(first_day), max(first_day) FROM silver.sensor_series "
                            "WHERE apartment = 'jimmy'").fetchone() == (49, DAY, DAY)
