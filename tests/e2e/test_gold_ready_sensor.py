"""GoldReadySensor / GoldReadyTrigger (ml_forecast_daily's wait_for_gold) against a real warehouse: it returns at
once when Gold holds the day, defers to the trigger when it does not, and the trigger fires only once the
pending Silver change is absorbed (here: removed from Gold's work ledger while it waits)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.fixtures.ml import ML_ISSUE

LOGICAL = datetime(ML_ISSUE.year, ML_ISSUE.month, ML_ISSUE.day, tzinfo=UTC)


def _sensor():
    from domotic_airflow.sensors import GoldReadySensor

    return GoldReadySensor(task_id="wait_for_gold", poke_interval=0.2, timeout=60)


def _pending_change(info: str, day_end: datetime) -> int:
    with psycopg.connect(info) as conn:
        return conn.execute(
            "INSERT INTO silver.gold_ledger (scope, window_start, window_end, source) VALUES"
            " ('sensor', %s, %s, 'test_late_file') RETURNING change_id",
            (day_end - timedelta(hours=2), day_end - timedelta(hours=2) + timedelta(minutes=1))).fetchone()[0]


async def _first_event(trigger, seconds: float):
    return await asyncio.wait_for(anext(trigger.run()), seconds)


def test_returns_at_once_when_gold_holds_the_day(ml_db):
    assert _sensor().execute({"logical_date": LOGICAL}) == ML_ISSUE.isoformat()


def test_defers_while_a_change_is_pending_and_fires_once_it_is_absorbed(ml_db):
    from airflow.sdk.exceptions import TaskDeferred

    from domotic_airflow.triggers import GoldReadyTrigger

    change = _pending_change(ml_db, LOGICAL + timedelta(days=1))
    with pytest.raises(TaskDeferred) as deferred:
        _sensor().execute({"logical_date": LOGICAL})
    trigger = deferred.value.trigger
    assert isinstance(trigger, GoldReadyTrigger)
    assert trigger.serialize() == ("domotic_airflow.triggers.GoldReadyTrigger",
                                   {"day": ML_ISSUE.isoformat(), "poke_interval": 0.2})
    assert deferred.value.timeout == timedelta(seconds=60)
    # still pending: no event
    with pytest.raises(TimeoutError):
        asyncio.run(_first_event(GoldReadyTrigger(ML_ISSUE.isoformat(), 0.2), 1.0))

    def absorb() -> None:  # what gold_build's next run does with the change
        with psycopg.connect(ml_db) as conn:
            conn.execute("DELETE FROM silver.gold_ledger WHERE change_id = %s", (change,))

    timer = threading.Timer(0.7, absorb)
    timer.start()
    try:
        event = asyncio.run(_first_event(GoldReadyTrigger(ML_ISSUE.isoformat(), 0.2), 30.0))
    finally:
        timer.join()
    assert event.payload["day"] == ML_ISSUE.isoformat() and event.payload["ready"]
    assert event.payload["checks"] >= 2
    assert _sensor().execute_complete({}, event.payload) == ML_ISSUE.isoformat()


def test_a_day_gold_never_built_keeps_waiting(ml_db):
    from domotic_airflow.triggers import GoldReadyTrigger

    later = (ML_ISSUE + timedelta(days=5)).isoformat()
    with pytest.raises(TimeoutError):
        asyncio.run(_first_event(GoldReadyTrigger(later, 0.2), 1.0))
