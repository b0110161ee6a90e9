"""Window planning of gold_build (pure functions of domotic.gold): asset events, days, confs, holidays."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domotic import gold
from domotic.gold import BuildPlan, Window, event_windows, merge_windows, plan_for_day, plan_from_context
from domotic.gold.ledger import Pending, PendingScope

T = datetime(2023, 10, 29, 0, 0, tzinfo=UTC)


def w(start_min: int, end_min: int) -> Window:
    return Window(T + timedelta(minutes=start_min), T + timedelta(minutes=end_min))


def extra(start: datetime, end: datetime) -> dict:
    return {"window_start": start.isoformat(), "window_end": end.isoformat(), "rows": 42}


@dataclass
class FakeAsset:
    name: str


@dataclass
class FakeEvent:
    asset: FakeAsset
    extra: dict


def test_merge_overlapping_and_touching_windows_but_never_fills_gaps():
    merged = merge_windows([w(10, 20), w(0, 5), w(5, 8), w(15, 30), w(40, 41), w(30, 31)])
    assert merged == [w(0, 8), w(10, 31), w(40, 41)]
    assert merge_windows([]) == []
    assert merge_windows([w(0, 60), w(10, 20)]) == [w(0, 60)]  # contained


def test_window_rounds_out_to_whole_minutes_in_utc():
    start = datetime(2023, 10, 29, 2, 30, 15, tzinfo=timezone(timedelta(hours=1)))  # 01:30:15 UTC
    end = datetime(2023, 10, 29, 1, 31, 0, 1, tzinfo=UTC)
    window = Window.of(start, end)
    assert window == Window(datetime(2023, 10, 29, 1, 30, tzinfo=UTC), datetime(2023, 10, 29, 1, 32, tzinfo=UTC))
    assert window.start.tzinfo == UTC


def test_window_refuses_naive_and_empty_bounds():
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2023, 1, 1), datetime(2023, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="empty window"):
        Window(T, T)


def test_event_windows_are_read_for_the_log_merged_per_asset():
    events = [
        ("silver_sensor_readings", extra(T + timedelta(minutes=1), T + timedelta(minutes=2))),
        ("silver_sensor_readings", extra(T, T + timedelta(minutes=1))),  # minutely runs arrive out of order
        ("silver_sensor_readings", extra(T + timedelta(minutes=1), T + timedelta(minutes=2))),  # repeated event
        ("silver_sensor_readings", extra(T + timedelta(hours=3), T + timedelta(hours=3, minutes=1))),
        ("silver_weather", extra(T, T + timedelta(days=2))),
        ("silver_reference", {"tables": 10}),  # the snapshot names no window: nothing to report
    ]
    windows, ignored = event_windows(events)
    assert windows == {"silver_sensor_readings": [w(0, 2), w(180, 181)],
                       "silver_weather": [Window(T, T + timedelta(days=2))]}
    assert ignored == []


def test_unusable_events_are_reported_not_fatal():
    windows, ignored = event_windows([
        ("silver_sensor_readings", {}),
        ("silver_sensor_readings", {"window_start": "2023-10-29T01:00:00+00:00", "window_end": "2023-10-29T00:00:00+00:00"}),
        ("silver_sensor_readings", {"window_start": "2023-10-29T01:00:00", "window_end": "2023-10-29T02:00:00"}),
        ("some_other_asset", extra(T, T + timedelta(minutes=1))),
    ])
    assert windows == {}
    assert len(ignored) == 4
    assert any("no window" in reason for reason in ignored)
    assert any("some_other_asset" in reason for reason in ignored)


def pending(scope: str = "sensor", start: datetime | None = T, end: datetime | None = T + timedelta(minutes=5),
            changes: int = 3) -> Pending:
    return Pending((PendingScope(scope, changes, start, end, T, 42),))


def test_asset_triggered_run_claims_the_ledger_whatever_its_events_say():
    """apache/airflow#56050: a run may get only some events, or none; the ledger is the work list."""
    sensor = FakeEvent(FakeAsset("silver_sensor_readings"), extra(T, T + timedelta(minutes=1)))
    plan = plan_from_context({"silver_sensor_readings": [sensor]}, logical_date=None, conf={},
                             pending=pending(end=T + timedelta(days=2)), run_id="asset_triggered__x")
    assert plan.sensor == plan.weather == [] and not plan.refresh_reference  # no window of its own
    assert not plan.is_empty  # ... but three pending changes to claim
    assert plan.events == {"silver_sensor_readings": [w(0, 1)]}
    assert plan.days() == [date(2023, 10, 29), date(2023, 10, 30)]
    params = plan.parameters()
    assert params["run_id"] == "asset_triggered__x"
    assert params["sensor_starts"] == []


def test_run_with_events_but_nothing_pending_is_empty():
    """Another run absorbed the changes these events announce: nothing is left to rebuild."""
    sensor = FakeEvent(FakeAsset("silver_sensor_readings"), extra(T, T + timedelta(minutes=1)))
    assert plan_from_context({"silver_sensor_readings": [sensor]}, None, None).is_empty


def test_reference_change_alone_refreshes_dimensions_only():
    plan = plan_from_context(None, None, None, pending=pending("reference", None, None, 1))
    assert plan.sensor == plan.weather == []
    assert not plan.is_empty
    assert plan.days() == []
    params = plan.parameters()
    assert params["sensor_starts"] == [] and params["holiday_dates"] == []
    assert params["refresh_reference"] is False  # the claimed reference row sets it in SQL


def test_holidays_cover_whole_years_around_every_planned_day():
    """Ledger rows committed between the plan and the build's claim are claimed only inside these years."""
    plan = plan_for_day(date(2023, 10, 29), pending=pending(start=datetime(2024, 12, 31, 23, tzinfo=UTC),
                                                               end=datetime(2025, 1, 1, 1, tzinfo=UTC)))
    assert plan.calendar_years() == (2022, 2026)
    params = plan.parameters()
    assert params["calendar_start"] == "2022-01-01T00:00:00+00:00"
    assert params["calendar_end"] == "2027-01-01T00:00:00+00:00"
    assert {"2022-08-01", "2025-01-01", "2026-12-25"} <= set(params["holiday_dates"])


def test_logical_date_d_rebuilds_utc_day_d_in_both_scopes():
    plan = plan_for_day(date(2023, 10, 29))
    day = Window(T, T + timedelta(days=1))
    assert plan.sensor == [day] and plan.weather == [day]
    assert plan.refresh_reference
    assert plan.days() == [date(2023, 10, 29)]


def test_context_event_reached_through_an_alias_is_counted_once():
    sensor = FakeEvent(FakeAsset("silver_sensor_readings"), extra(T, T + timedelta(minutes=1)))
    events = {"silver_sensor_readings": [sensor], "an_alias": [sensor]}  # an event reached twice
    plan = plan_from_context(events, logical_date=None, conf={}, pending=pending())
    assert plan.events == {"silver_sensor_readings": [w(0, 1)]}
    assert plan.reason == "1 asset event(s): pending ledger changes"


def test_context_time_or_manual_run_uses_the_logical_date():
    plan = plan_from_context({}, logical_date=datetime(2023, 10, 29, 0, 0, tzinfo=UTC), conf={})
    assert plan.sensor == [Window(T, T + timedelta(days=1))]
    # the scheduled run of the day has its logical date at the start of the interval (00:00 cron)
    plan = plan_from_context(None, logical_date=datetime(2023, 10, 29, 0, 0, tzinfo=UTC), conf=None)
    assert plan.days() == [date(2023, 10, 29)]


def test_context_manual_conf_window_wins_over_the_logical_date():
    conf = {"window_start": "2023-10-29T00:10:00+00:00", "window_end": "2023-10-29T00:20:00+00:00"}
    plan = plan_from_context({}, logical_date=datetime(2023, 10, 1, tzinfo=UTC), conf=conf)
    assert plan.sensor == [w(10, 20)] and plan.weather == [w(10, 20)]


def test_context_without_anything_is_empty():
    plan = plan_from_context({}, logical_date=None, conf=None)
    assert plan.is_empty


def test_time_based_run_adds_its_day_to_the_pending_changes():
    plan = plan_from_context(None, datetime(2023, 10, 31, tzinfo=UTC), None, pending=pending())
    assert plan.sensor == [Window(datetime(2023, 10, 31, tzinfo=UTC), datetime(2023, 11, 1, tzinfo=UTC))]
    assert plan.days() == [date(2023, 10, 29), date(2023, 10, 31)]
    assert plan.summary()["pending_ledger"]["sensor"]["changes"] == 3


def test_days_cover_every_touched_utc_day_once():
    plan = BuildPlan([w(-1, 1), Window(T + timedelta(days=2), T + timedelta(days=2, minutes=1))],
                     [Window(T, T + timedelta(days=1))])
    assert plan.days() == [date(2023, 10, 28), date(2023, 10, 29), date(2023, 10, 31)]


def test_valais_holidays_from_the_library():
    rows = dict(gold.holiday_rows(date(2023, 1, 1), date(2023, 12, 31)))
    assert rows[date(2023, 8, 1)] == "National Day"
    assert date(2023, 3, 19) in rows  # Saint Joseph: a Valais holiday, not a federal one
    assert date(2023, 12, 26) not in rows  # St Stephen's Day is not a public holiday in Valais
    assert date(2023, 10, 29) not in rows


def test_parameters_are_json_and_carry_holidays_around_the_days():
    plan = plan_for_day(date(2023, 10, 31))  # All Saints' Day is 11-01 local: the next day must be known
    params = plan.parameters(["Sion", " Visp ", ""])
    json.dumps(params)
    assert params["sensor_starts"] == ["2023-10-31T00:00:00+00:00"]
    assert params["sensor_ends"] == ["2023-11-01T00:00:00+00:00"]
    assert "2023-11-01" in params["holiday_dates"]
    assert params["weather_sites"] == ["Sion", "Visp"]
    assert params["local_tz"] == "Europe/Zurich"
    assert dict(zip(params["room_alias_from"], params["room_alias_to"], strict=True))["Bdroom"] == "Bedroom"
    assert params["refresh_reference"] is True


def test_build_sql_files_exist_and_hold_one_statement_each():
    import sqlparse

    for name in gold.BUILD_SQL:
        assert (gold.SQL_DIR / name).is_file(), name
    for name in gold.BUILD_SQL:  # bound parameters allow one statement per execute
        statements = [s for s in sqlparse.split(gold.read_sql(name)) if sqlparse.format(s, strip_comments=True).strip()]
        assert len(statements) == 1, name
