"""The loader's fused fast path produces exactly the readings of the reference flatten_payload."""

from __future__ import annotations

import struct
from collections import Counter
from datetime import UTC, date, datetime

import orjson
import pytest

from domotic.generator.sensors import parse_fault_args, write_range
from domotic.sensors.flatten import flatten_payload, payload_copy_lines
from domotic.sensors.outliers import bounds_for
from tests.fixtures.sensors import EXAMPLE


def fast_readings(payload: dict):
    ids: dict[tuple, int] = {}
    by_id: dict[int, tuple] = {}

    def create(sensor_type, room, index, field, unit):
        key = (room, sensor_type, field, index)
        series_id = ids.setdefault(key, len(ids) + 1)
        by_id[series_id] = (key, unit)
        low, high = bounds_for(sensor_type, field) or (float("-inf"), float("inf"))
        return (low, high, struct.pack(">iiib", 4, series_id, 1, 0), struct.pack(">iiib", 4, series_id, 1, 1))

    cache: dict = {}
    rows: list[bytes] = []
    skipped: Counter[str] = Counter()
    prefix = struct.pack(">hiqii", 5, 8, 747_000_000_000_000, 4, 77)
    payload_copy_lines(payload, prefix, cache, create, rows, skipped)
    readings = []
    for row in rows:
        assert row[:22] == prefix and len(row) == 22 + 12 + 13
        value_len, value, series_len, series_id, flag_len, outlier = struct.unpack(">idiiib", row[22:])
        assert (value_len, series_len, flag_len) == (8, 4, 1)
        key, unit = by_id[series_id]
        room, sensor_type, field, index = key
        low, high = bounds_for(sensor_type, field) or (float("-inf"), float("inf"))
        assert outlier == (0 if low <= value <= high else 1)
        readings.append(((room, sensor_type, field, index), unit, value))
    return readings, skipped


def test_example_equivalent():
    reference = flatten_payload(EXAMPLE)
    readings, skipped = fast_readings(EXAMPLE)
    assert readings == reference.readings and skipped == reference.skipped


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    faults = parse_fault_args(["nulls=0.1,out_of_range=0.1,non_numeric=0.1,single_object_contact=0.1,"
                               "flat_meteos=0.1,bad_datetime=0.05"])
    write_range(out, datetime(2023, 9, 1, tzinfo=UTC), datetime(2023, 9, 1, 6, tzinfo=UTC), faults,
                seed=5, history_start=date(2023, 9, 1))
    return sorted(out.iterdir())


def test_generated_files_with_faults_equivalent(generated):
    assert len(generated) > 500
    for path in generated:
        payload = orjson.loads(path.read_bytes())
        reference = flatten_payload(payload)
        readings, skipped = fast_readings(payload)
        assert readings == reference.readings, path.name
        assert skipped == reference.skipped, path.name


@pytest.mark.parametrize("payload", [
    {"plugs": [1]}, {"motions": {"A": 3}}, {"doorsWindows": {"K": "x"}}, {"doorsWindows": {"K": [1, {"type": 5}]}},
    {"meteos": {"meteo": {"Outdoor": None, "X": 1}}}, {"consumptions": {"House": {"power1": "1.5"}}},
    {"doorsWindows": {"K": [{"type": "Door", "switch": 1}, {"type": "DOOR", "switch": "OFF", "battery": True}]}},
])
def test_odd_shapes_equivalent(payload):
    reference = flatten_payload(payload)
    assert fast_readings(payload) == (reference.readings, reference.skipped)
