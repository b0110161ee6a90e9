"""Alerts reach a real SMTP server on loopback and the ops.alerts table; retry policy classification."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from domotic_dev.services import free_port

FIXTURE_DAGS = Path(__file__).resolve().parents[1] / "fixtures_dags"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler protocol
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 5}}))
    monkeypatch.setenv("AIRFLOW_VAR_ALERTS_EMAIL_TO", "oncall@example.invalid")
    yield inbox
    controller.stop()


def alerts(conninfo):
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT kind, dag_id, task_id, subject, message, email_sent FROM ops.alerts "
                            "ORDER BY alert_id").fetchall()


def test_task_failure_alert_fires_once_after_last_retry(airflow_db, warehouse, smtp_server, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    # dag.test() finds a DAG through the configured bundles: add one holding the probe DAG.
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
        {"name": "test-fixtures", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(FIXTURE_DAGS)}}]))
    dag = DagBag(dag_folder=str(FIXTURE_DAGS / "failing_dag.py")).dags["alert_probe"]
    run = dag.test()
    assert run.state == "failed"
    ti = run.get_task_instances()[0]
    assert ti.try_number == 2  # the first failure retried; the alert waited for the last one
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail["To"] == "oncall@example.invalid"
    assert mail["Subject"] == "[domotic] task failed: alert_probe.always_fails"
    html = [part.get_payload(decode=True).decode() for part in mail.walk() if part.get_content_type() == "text/html"]
    assert "simulated permanent failure" in html[0]
    rows = alerts(warehouse["conninfo"])
    assert rows == [("task_failure", "alert_probe", "always_fails",
                     "[domotic] task failed: alert_probe.always_fails", rows[0][4], True)]


def test_deadline_callback_runs_in_the_triggerer_path_and_mails(warehouse, smtp_server):
    # The exact object the scheduler queues for a missed deadline: a CallbackTrigger with our notifier path.
    from airflow.triggers.callback import CallbackTrigger

    context = {"dag_run": {"dag_id": "gold_build", "dag_run_id": "scheduled__2023-09-14T02:00:00+00:00"},
               "deadline": {"id": "x", "deadline_time": "2023-09-14T02:15:00+00:00"}}
    trigger = CallbackTrigger("domotic_airflow.alerts.AlertNotifier",
                              {"kind": "deadline_missed", "dag_id": "gold_build",
                               "rule": "must finish within 15 min of being queued", "context": context})

    async def run():
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run())
    assert events[-1]["state"] == "success", events
    assert [m["Subject"] for m in smtp_server.messages] == ["[domotic] deadline missed: gold_build"]
    rows = alerts(warehouse["conninfo"])
    assert rows[0][:2] == ("deadline_missed", "gold_build") and rows[0][5] is True
    assert "2023-09-14T02:15:00+00:00" in rows[0][4]


def test_alert_survives_a_dead_mail_server(warehouse, monkeypatch):
    from domotic_airflow.alerts import raise_alert

    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": free_port(),
        "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 2}}))
    result = raise_alert("stale_data", {}, dag_id="data_freshness", subject="silver stale", message="lag 45 min")
    assert result["email_sent"] is False and result["email_error"]
    assert alerts(warehouse["conninfo"])[0][:2] == ("stale_data", "data_freshness")


@pytest.mark.parametrize(
    ("exception", "action"),
    [
        ("psycopg.OperationalError", "retry"),
        ("psycopg.errors.SerializationFailure", "retry"),
        ("ConnectionResetError", "retry"),
        ("ConnectionRefusedError", "retry"),
        ("TimeoutError", "retry"),
        ("paramiko.ssh_exception.AuthenticationException", "fail"),
        ("psycopg.errors.InvalidPassword", "fail"),
        ("psycopg.errors.UndefinedTable", "fail"),
        ("domotic.errors.SourceMissingError", "fail"),
        ("domotic.errors.ConfigurationError", "fail"),
        ("ValueError", "default"),
    ],
)
def test_retry_policy_classifies_errors(exception, action):
    import builtins
    import importlib

    from domotic_airflow.dag_defaults import RETRY_POLICY

    module, _, name = exception.rpartition(".")
    cls = getattr(importlib.import_module(module) if module else builtins, name)
    decision = RETRY_POLICY.evaluate(cls("boom"), try_number=1, max_tries=4)
    assert decision.action.value == action, decision


def test_backoff_grows_exponentially():
    from domotic_airflow.dag_defaults import default_args

    args = default_args()
    assert args["retries"] >= 2 and args["retry_exponential_backoff"] >= 2
    assert args["max_retry_delay"] >= timedelta(minutes=10)


def test_backfill_deadline_misses_are_recorded_not_mailed(warehouse, smtp_server):
    from domotic_airflow.alerts import raise_alert

    context = {"dag_run": {"dag_id": "sensors_daily", "dag_run_id": "backfill__2023-09-14T00:00:00+00:00"},
               "deadline": {"deadline_time": "2026-11-28T01:00:00+00:00"}}
    result = raise_alert("deadline_missed", context, dag_id="sensors_daily")
    assert result["email_sent"] is False and smtp_server.messages == []
    assert alerts(warehouse["conninfo"])[0][:2] == ("deadline_missed", "sensors_daily")


def test_empty_share_fails_as_not_mounted(tmp_path, monkeypatch, warehouse):
    from datetime import date

    from domotic.errors import SourceMissingError
    from domotic.sensors.tasks import list_day as copy_day

    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(tmp_path))
    with pytest.raises(SourceMissingError, match="is empty: is the SMB share mounted"):
        copy_day(date(2023, 9, 14))
    monkeypatch.setenv("AIRFLOW_VAR_DOMOTIC_SMB_PATH", str(tmp_path / "missing"))
    with pytest.raises(SourceMissingError, match="does not exist or is not mounted"):
        copy_day(date(2023, 9, 14))


def _deadline_context(state: str, queued_at: str, deadline: str = "2023-09-14T02:15:00+00:00") -> dict:
    return {"dag_run": {"dag_id": "gold_build", "dag_run_id": "scheduled__2023-09-14T02:00:00+00:00",
                        "state": state, "queued_at": queued_at, "logical_date": "2023-09-14T02:00:00+00:00"},
            "deadline": {"id": "x", "deadline_time": deadline}}


def test_deadline_alert_says_how_late_links_the_run_and_has_a_text_part(warehouse, smtp_server, monkeypatch):
    from domotic_airflow.alerts import raise_alert

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")
    result = raise_alert("deadline_missed", _deadline_context("running", "2023-09-14T02:00:05+00:00"),
                         dag_id="gold_build", rule="must finish within 15 min of being queued")
    assert result["email_sent"] is True
    (mail,) = smtp_server.messages
    text = next(p.get_payload(decode=True).decode() for p in mail.walk() if p.get_content_type() == "text/plain")
    html = next(p.get_payload(decode=True).decode() for p in mail.walk() if p.get_content_type() == "text/html")
    run_url = "http://airflow.example:8080/dags/gold_build/runs/scheduled__2023-09-14T02%3A00%3A00%2B00%3A00"
    for body in (text, html):
        assert run_url in body
        assert "late, state running" in body and "Logical date 2023-09-14T02:00:00+00:00" in body
    assert result["details"]["late_seconds"] > 0


@pytest.mark.parametrize(("state", "queued_at", "why"), [
    ("failed", "2023-09-14T02:00:05+00:00", "the run had already failed"),
    ("running", "2023-09-14T03:00:00+00:00", "created after its deadline"),  # a catch-up of a past date
])
def test_deadline_alerts_that_would_mislead_are_recorded_not_mailed(warehouse, smtp_server, state, queued_at, why):
    from domotic_airflow.alerts import raise_alert

    result = raise_alert("deadline_missed", _deadline_context(state, queued_at), dag_id="gold_build")
    assert result["email_sent"] is False and why in result["email_error"]
    assert smtp_server.messages == []
    assert alerts(warehouse["conninfo"])[0][:2] == ("deadline_missed", "gold_build")


def test_failure_alert_says_it_is_final_and_links_the_task_log(warehouse, smtp_server):
    from types import SimpleNamespace

    from domotic_airflow.alerts import raise_alert

    ti = SimpleNamespace(dag_id="weather_daily", task_id="fetch_new_files", run_id="manual__1", try_number=4,
                         max_tries=3, map_index=-1)
    result = raise_alert("task_failure", {"ti": ti, "exception": ConnectionError("refused"),
                                          "dag_run": SimpleNamespace(state="running", logical_date=None)})
    assert "failed for good" in result["message"] and "try 4 of 4, no retry left" in result["message"]
    assert "will retry" not in result["message"]
    assert result["links"]["task_log"].endswith("/dags/weather_daily/runs/manual__1/tasks/fetch_new_files?try_number=4")
