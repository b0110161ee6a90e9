"""Every DAG parses, follows the house rules, and does no I/O or lookups at parse time."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
EXPECTED_DAGS = {
    "sensors_minutely", "sensors_daily", "weather_daily", "mysql_snapshot_weekly", "gold_build", "data_freshness",
    "maintenance_backup", "maintenance_bronze_compaction", "maintenance_vacuum", "maintenance_disk_report",
    "warehouse_migrate", "ml_forecast_daily",
}


class ParseTimeLookup(AssertionError):
    pass


def _forbid(*_args, **_kwargs):
    raise ParseTimeLookup("a DAG file looked up a Variable/Connection or opened a network connection at parse time")


_AUDIT = {"on": False, "events": []}
_WATCHED = ("socket.connect", "os.scandir", "os.listdir")


def _audit(event, args):
    if _AUDIT["on"] and event in _WATCHED:
        _AUDIT["events"].append((event, args))


sys.addaudithook(_audit)


def _parse(monkeypatch, tmp_path, deadlines: bool):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Connection, Variable

    monkeypatch.setenv("DOMOTIC_DEADLINES_ENABLED", "true" if deadlines else "false")
    for key in ("share", "bronze"):
        (tmp_path / key).mkdir(exist_ok=True)
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(tmp_path / "share"))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", str(tmp_path / "bronze"))
    monkeypatch.setattr(Variable, "get", _forbid)
    monkeypatch.setattr(Connection, "get", _forbid)
    monkeypatch.setattr(BaseHook, "get_connection", _forbid)
    monkeypatch.setattr(socket.socket, "connect", _forbid)
    _AUDIT.update(on=True, events=[])
    try:
        bag = DagBag(dag_folder=str(DAGS_DIR))
    finally:
        _AUDIT["on"] = False
    return bag, list(_AUDIT["events"])


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        folder = tmp_path_factory.mktemp("parse")
        bag, events = _parse(mp, folder, deadlines=True)
    finally:
        mp.undo()
    bag.parse_events = events
    bag.data_folder = str(folder)
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_present(dagbag):
    assert set(dagbag.dag_ids) >= EXPECTED_DAGS


def test_no_network_or_directory_listing_at_parse_time(dagbag):
    # Listing a folder or connecting anywhere while parsing would slow the dag-processor and hide outages.
    # (Imports list package folders; what matters is that nothing touches the data folders or the network.)
    offenders = [(event, args) for event, args in dagbag.parse_events
                 if event == "socket.connect" or str(args[0]).startswith(dagbag.data_folder)]
    assert offenders == []


def test_lookups_at_parse_time_would_fail_the_parse(monkeypatch, tmp_path):
    # Sanity check of the harness: a DAG file doing Variable.get at top level must show up as an import error.
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Variable

    bad = tmp_path / "bad_dag.py"
    bad.write_text("from airflow.sdk import DAG, Variable\nVariable.get('x')\nDAG('bad', schedule=None)\n")
    monkeypatch.setattr(Variable, "get", _forbid)
    bag = DagBag(dag_folder=str(bad))
    assert "ParseTimeLookup" in next(iter(bag.import_errors.values()))


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_house_rules(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags, "tags"
    assert dag.doc_md and dag_id in dag.doc_md, "module docstring as doc_md"
    assert dag.max_active_runs and dag.max_active_runs <= 10
    assert dag.deadline, "a Deadline Alert is configured"
    if dag.catchup:
        assert dag.start_date is not None
    for task in dag.tasks:
        assert task.owner == "domotic-data", task.task_id
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.on_failure_callback, task.task_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_every_task_has_an_execution_timeout_from_the_defaults_within_its_run(dagbag, dag_id):
    """Nothing holds a worker slot forever (a FIFO on the share, a hung mount): every task of every DAG has an
    ``execution_timeout`` from ``dag_defaults.TASK_TIMEOUTS``, shorter than its DAG run may last."""
    from domotic_airflow.dag_defaults import TASK_TIMEOUTS

    dag = dagbag.dags[dag_id]
    for task in dag.tasks:
        assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no execution_timeout"
        assert task.execution_timeout in TASK_TIMEOUTS.values(), f"{dag_id}.{task.task_id}: not a TASK_TIMEOUTS value"
        if dag.dagrun_timeout:
            assert task.execution_timeout < dag.dagrun_timeout, f"{dag_id}.{task.task_id}"


def test_timetables(dagbag):
    minutely = dagbag.dags["sensors_minutely"]
    assert minutely.timetable.expression == "* * * * *" and minutely.catchup is False
    daily = dagbag.dags["sensors_daily"]
    assert daily.timetable.expression == "0 0 * * *" and daily.catchup is True
    assert daily.start_date.isoformat().startswith("2023-08-18")


def test_deadlines_can_be_switched_off_for_dag_test(monkeypatch, tmp_path):
    bag, _ = _parse(monkeypatch, tmp_path, deadlines=False)
    assert all(not bag.dags[dag_id].deadline for dag_id in bag.dag_ids)


def test_sensor_dag_structure(dagbag):
    minutely = dagbag.dags["sensors_minutely"]
    assert minutely.task_dict["wait_for_minute_files"].downstream_task_ids == {"copy_to_bronze"}
    assert minutely.task_dict["copy_to_bronze"].downstream_task_ids == {"load_to_silver"}
    assert [a.name for a in minutely.task_dict["load_to_silver"].outlets] == ["silver_sensor_readings"]
    daily = dagbag.dags["sensors_daily"]
    assert daily.task_dict["reconcile_day"].downstream_task_ids == {"ingest_chunk"}
    assert daily.task_dict["ingest_chunk"].downstream_task_ids == set()
    assert [a.name for a in daily.task_dict["ingest_chunk"].outlets] == ["silver_sensor_readings"]
    # a small day is loaded by reconcile_day, which emits through an alias only when it loaded something
    assert [a.name for a in daily.task_dict["reconcile_day"].outlets] == ["silver_sensor_loads"]


def test_deadlines_match_the_operations_contract(dagbag):
    from airflow.sdk import DeadlineReference

    expected = {"sensors_minutely": 5, "weather_daily": 90, "gold_build": 15, "mysql_snapshot_weekly": 60}
    for dag_id, minutes in expected.items():
        if dag_id not in dagbag.dags:
            continue
        (alert,) = dagbag.dags[dag_id].deadline
        assert alert.interval.total_seconds() == minutes * 60, dag_id
    (weather,) = dagbag.dags["weather_daily"].deadline
    assert weather.reference == DeadlineReference.DAGRUN_LOGICAL_DATE  # 07:30 Zurich + 90 min = by 09:00


def test_no_dag_run_does_ddl(dagbag):
    """The schema is a deploy step (warehouse_migrate): no task of a pipeline DAG creates tables."""
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            assert not task.task_id.startswith("create_"), f"{dag_id}.{task.task_id}"
            statements = task.sql if isinstance(getattr(task, "sql", None), list) else [getattr(task, "sql", "")]
            for statement in statements:
                assert "CREATE TABLE" not in str(statement).upper(), f"{dag_id}.{task.task_id}"


def test_ui_metadata_explains_every_dag(dagbag):
    """What an operator sees in the DAG list: a description naming when it runs in which time zone, its own doc
    page, and a schedule whose time zone is explicit."""
    docs = {}
    for dag_id, dag in dagbag.dags.items():
        assert dag.description and len(dag.description) > 30, dag_id
        timetable = dag.timetable
        inner = getattr(timetable, "timetable", timetable)  # AssetOrTimeSchedule wraps a time timetable
        if dag.schedule is not None:
            assert str(getattr(inner, "_timezone", None) or getattr(inner, "timezone", "")) in dag.description, (
                dag_id, "the description names the schedule's time zone")
        assert dag.doc_md.lstrip().startswith(f"### {dag_id}:"), dag_id
        docs.setdefault(dag.doc_md, []).append(dag_id)
    assert all(len(ids) == 1 for ids in docs.values()), "one doc page per DAG"


def test_assets_carry_a_description():
    from domotic_airflow import assets

    for asset in (assets.SILVER_SENSOR_READINGS, assets.SILVER_WEATHER, assets.SILVER_REFERENCE,
                  assets.GOLD_STAR_SCHEMA):
        assert len(asset.extra["description"]) > 30 and asset.group in {"silver", "gold"}, asset.name
