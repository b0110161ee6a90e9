"""PredictedFileSensor and its trigger: serialisation, the wait, and the timeout path (proceed, never fail)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from importlib import import_module
from types import SimpleNamespace

from airflow.sdk import PokeReturnValue

from domotic.sensors.names import predict_names
from domotic_airflow.sensors import PredictedFileSensor, run_minute
from domotic_airflow.triggers import PredictedFilesTrigger
from tests.fixtures.sensors import REGISTRY, SENSOR_APARTMENTS

MINUTE = datetime(2023, 9, 14, 8, 17, tzinfo=UTC)


class FakeTI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def context_for(minute):
    return {"data_interval_start": minute, "data_interval_end": minute + timedelta(minutes=1), "ti": FakeTI()}


def first_event(trigger):
    async def take():
        async for event in trigger.run():
            return event.payload
    return asyncio.run(take())


def test_trigger_serialize_round_trip():
    trigger = PredictedFilesTrigger("/share", ["a.json", "b.json"], "2023-09-14T08:21:00+00:00", 2.0)
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert classpath == "domotic_airflow.triggers.PredictedFilesTrigger"


def test_trigger_fires_when_all_files_exist(tmp_path):
    names = predict_names(MINUTE, REGISTRY)
    for name in names:
        (tmp_path / name).write_text("{}")
    deadline = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    event = first_event(PredictedFilesTrigger(str(tmp_path), names, deadline, 0.05))
    assert event == {"found": names, "missing": [], "timed_out": False}


def test_trigger_waits_for_a_late_file_then_fires(tmp_path):
    names = predict_names(MINUTE, REGISTRY)
    (tmp_path / names[0]).write_text("{}")
    deadline = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()

    async def scenario():
        async def arrive_later():
            await asyncio.sleep(0.3)
            (tmp_path / names[1]).write_text("{}")
        task = asyncio.create_task(arrive_later())
        async for event in PredictedFilesTrigger(str(tmp_path), names, deadline, 0.05).run():
            await task
            return event.payload

    assert asyncio.run(scenario()) == {"found": names, "missing": [], "timed_out": False}


def test_trigger_timeout_reports_missing_instead_of_failing(tmp_path):
    names = predict_names(MINUTE, REGISTRY)
    (tmp_path / names[1]).write_text("{}")
    deadline = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
    event = first_event(PredictedFilesTrigger(str(tmp_path), names, deadline, 0.05))
    assert event == {"found": [names[1]], "missing": [names[0]], "timed_out": True}


def test_sensor_poke_reschedule_path(tmp_path):
    names = predict_names(MINUTE, REGISTRY)
    sensor = PredictedFileSensor(task_id="s", apartments=SENSOR_APARTMENTS, folder=str(tmp_path), deferrable=False, wait_seconds=10**9)
    assert sensor.mode == "reschedule"
    ctx = context_for(MINUTE)
    assert sensor.poke(ctx).is_done is False
    for name in names:
        (tmp_path / name).write_text("{}")
    result = sensor.poke(ctx)
    assert isinstance(result, PokeReturnValue) and result.is_done and result.xcom_value == names
    assert ctx["ti"].pushed["missing"] == []


def test_sensor_timeout_path_proceeds_with_found_files(tmp_path):
    names = predict_names(MINUTE, REGISTRY)
    (tmp_path / names[0]).write_text("{}")
    sensor = PredictedFileSensor(task_id="s", apartments=SENSOR_APARTMENTS, folder=str(tmp_path), deferrable=False, wait_seconds=0)
    ctx = context_for(MINUTE)  # the minute is long past: the deadline has passed
    result = sensor.poke(ctx)
    assert result.is_done and result.xcom_value == [names[0]]
    assert ctx["ti"].pushed["missing"] == [names[1]]


def test_the_sensor_defers_by_default_whatever_airflow_cfg_says(monkeypatch):
    """[operators] default_deferrable is False out of the box: the sensor must not depend on it."""
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert PredictedFileSensor(task_id="s", apartments=SENSOR_APARTMENTS, folder="/tmp").deferrable is True


def test_deferrable_sensor_returns_at_once_when_files_exist(tmp_path):
    names = predict_names(MINUTE, REGISTRY)
    for name in names:
        (tmp_path / name).write_text("{}")
    sensor = PredictedFileSensor(task_id="s", apartments=SENSOR_APARTMENTS, folder=str(tmp_path), deferrable=True)
    assert sensor.execute(context_for(MINUTE)) == names


def test_deferrable_sensor_defers_with_trigger(tmp_path):
    from airflow.sdk.exceptions import TaskDeferred

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    sensor = PredictedFileSensor(task_id="s", apartments=SENSOR_APARTMENTS, folder=str(tmp_path), deferrable=True, wait_seconds=120,
                                 timeout=timedelta(minutes=8))
    try:
        sensor.execute(context_for(now))
    except TaskDeferred as deferred:
        assert isinstance(deferred.trigger, PredictedFilesTrigger)
        assert deferred.trigger.names == predict_names(now, REGISTRY)
        assert deferred.method_name == "execute_complete"
        assert deferred.timeout == timedelta(minutes=8)  # the deferral is bounded too
    else:  # pragma: no cover
        raise AssertionError("sensor did not defer")
    ctx = context_for(now)
    out = sensor.execute_complete(ctx, {"found": [], "missing": predict_names(now, REGISTRY), "timed_out": True})
    assert out == [] and ctx["ti"].pushed["missing"] == predict_names(now, REGISTRY)


def test_run_minute_without_data_interval_uses_minute_before_run():
    ctx = {"data_interval_start": None, "dag_run": SimpleNamespace(run_after=MINUTE + timedelta(seconds=42))}
    assert run_minute(ctx) == MINUTE - timedelta(minutes=1)
