"""Live mode writes each minute's files after the minute ends, with jitter, late and missing files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domotic.generator.live import run_live
from domotic.sensors.names import parse_sensor_name
from tests.fixtures.sensors import REGISTRY


class FakeClock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += timedelta(seconds=seconds)


def test_live_files_arrive_after_their_minute(tmp_path):
    clock = FakeClock(datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC))
    arrivals = []
    written = run_live(tmp_path, seed=3, minutes=5, late_rate=0.0, missing_rate=0.0, clock=clock,
                       sleep=clock.sleep, on_write=lambda name, _: arrivals.append((name, clock.now)))
    assert written == 10
    for name, at in arrivals:
        minute = parse_sensor_name(name, REGISTRY).minute_utc
        assert minute + timedelta(minutes=1) <= at <= minute + timedelta(minutes=1, seconds=15), name
    assert not list(tmp_path.glob(".*.tmp"))


def test_live_late_and_missing(tmp_path):
    clock = FakeClock(datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC))
    written = run_live(tmp_path, seed=1, minutes=30, late_rate=0.2, missing_rate=0.1, clock=clock, sleep=clock.sleep)
    assert 30 <= written < 60  # some never came
    assert len(list(tmp_path.iterdir())) == written
