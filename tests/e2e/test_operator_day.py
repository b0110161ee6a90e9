"""The operator's day through a real Airflow (scheduler, triggerer, dag-processor, api-server; LocalExecutor),
the real DAGs, a migrated warehouse and an SMTP server on loopback.

* ``sensors_minutely``'s sensor is deferred (a trigger row exists while it waits) and resumed by its trigger
  when the files arrive; the run succeeds on try 1.
* A run that is late but running gets one deadline alert, mailed, saying how late and linking the run; it keeps
  running and succeeds.
* A run created after its deadline had passed (a past logical date of ``weather_daily``, whose deadline counts
  from the logical date) is recorded, not mailed.
* A run that fails (a missing connection: at once, no retry, the message naming it and where to set it) gets
  its failure alert mailed; its deadline, coming due later, is recorded, not mailed.
* A run in time raises nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import psycopg
import pytest
from aiosmtpd.controller import Controller
from domotic_dev.airflow_local import LocalAirflow
from domotic_dev.services import create_warehouse, drop_database, free_port, start_sftp

from domotic.sensors.names import predict_names
from tests.fixtures.sensors import REGISTRY, payload, write
from tests.fixtures.services import pg_conn_json


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler protocol
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def stack(pg_service, tmp_path_factory):
    root = tmp_path_factory.mktemp("operator")
    share = root / "share"
    share.mkdir()
    warehouse, meta = f"domotic_op_{uuid.uuid4().hex[:8]}", f"airflow_op_{uuid.uuid4().hex[:8]}"
    create_warehouse(pg_service, warehouse)
    (root / "sftp" / "Meteo2").mkdir(parents=True)  # no forecast file: weather_daily succeeds with nothing new
    sftp = start_sftp(root / "sftp")
    inbox, smtp_port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    airflow = LocalAirflow(home=root / "airflow", meta=pg_service, meta_db=meta, extra_env={
        "AIRFLOW_CONN_DOMOTIC_POSTGRES": pg_conn_json(pg_service, warehouse),
        "AIRFLOW_CONN_ALERTS_SMTP": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
            "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 10}}),
        "AIRFLOW_CONN_METEO_SFTP": json.dumps({
            "conn_type": "sftp", "host": sftp.host, "port": sftp.port, "login": sftp.user, "password": sftp.password,
            "extra": {"host_key": f"{sftp.extra['host_key_type']} {sftp.extra['host_key']}"}}),
        "AIRFLOW_VAR_DOMOTIC_SMB_PATH": str(share), "AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT": str(root / "bronze"),
        "AIRFLOW_VAR_SENSOR_WAIT_SECONDS": "90",
        "DOMOTIC_DEADLINES_ENABLED": "true", "DOMOTIC_CATCHUP": "false", "DOMOTIC_HISTORY_START": "2023-10-28",
        # Deadlines short enough to come due during the test (the minutes are environment, read at parse time).
        "DOMOTIC_DEADLINE_SENSORS_MINUTELY_MINUTES": "0.25",
        "DOMOTIC_DEADLINE_MYSQL_SNAPSHOT_WEEKLY_MINUTES": "0.5",
        # pidb_mysql is deliberately not defined: mysql_snapshot_weekly fails at once naming it.
    })
    try:
        airflow.reset_metadata()
        airflow.start()
        airflow.wait_dags_parsed(["sensors_minutely", "weather_daily", "mysql_snapshot_weekly", "gold_build"])
        yield {"airflow": airflow, "inbox": inbox, "share": share,
               "warehouse": f"host={pg_service.host} port={pg_service.port} user={pg_service.user} dbname={warehouse}"}
    finally:
        airflow.stop()
        smtp.stop()
        sftp.stop()
        drop_database(pg_service, warehouse)
        drop_database(pg_service, meta)


def _wait(predicate, what: str, airflow: LocalAirflow, seconds: float = 180):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            runs = airflow.query("SELECT dag_id, run_id, state FROM dag_run")
            tis = airflow.query("SELECT dag_id, task_id, state, try_number FROM task_instance")
            pytest.fail(f"timed out waiting for {what}; runs {runs}; tasks {tis}")
        airflow.check_alive()
        time.sleep(1)


def _alerts(stack) -> list[tuple]:
    with psycopg.connect(stack["warehouse"]) as conn:
        return conn.execute("SELECT kind, dag_id, run_id, email_sent, email_error, message FROM ops.alerts"
                            " ORDER BY alert_id").fetchall()


def test_an_operators_day(stack):
    airflow, inbox = stack["airflow"], stack["inbox"]
    for dag_id in ("sensors_minutely", "weather_daily", "mysql_snapshot_weekly"):
        airflow.cli("dags", "unpause", dag_id)
    # sensors_minutely for a past minute whose files are not there yet: the sensor defers.
    minute = datetime(2023, 10, 28, 10, 0, tzinfo=UTC)
    airflow.cli("dags", "trigger", "sensors_minutely", "--run-id", "op_minute",
                "--logical-date", (minute + timedelta(minutes=1)).isoformat())
    # weather_daily for a past day: created long after its deadline (logical date + 90 min).
    airflow.cli("dags", "trigger", "weather_daily", "--run-id", "op_weather_catch_up",
                "--logical-date", "2023-10-28T06:30:00+00:00")
    # mysql_snapshot_weekly without its connection: fails at once.
    airflow.cli("dags", "trigger", "mysql_snapshot_weekly", "--run-id", "op_snapshot")
    # A run in time: the deploy step (its deadline is 30 minutes away).
    airflow.cli("dags", "unpause", "warehouse_migrate")
    airflow.cli("dags", "trigger", "warehouse_migrate", "--run-id", "op_migrate")

    deferred = _wait(lambda: airflow.query(
        "SELECT ti.state, ti.trigger_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id"
        " WHERE ti.run_id = 'op_minute' AND ti.task_id = 'wait_for_minute_files' AND ti.state = 'deferred'"),
        "the sensor to defer with a trigger row", airflow)
    assert deferred[0][1] is not None
    # Late but running: the 15-second deadline comes due while the sensor waits.
    _wait(lambda: [a for a in _alerts(stack) if a[0] == "deadline_missed" and a[2] == "op_minute"],
          "the deadline alert of the late minutely run", airflow)
    for name in predict_names(minute, REGISTRY):
        write(stack["share"], name, payload(name.split("_")[1], minute))
    _wait(lambda: airflow.query("SELECT 1 FROM dag_run WHERE run_id = 'op_minute' AND state = 'success'"),
          "the minutely run to resume and succeed", airflow)
    _wait(lambda: airflow.query("SELECT 1 FROM dag_run WHERE run_id = 'op_snapshot' AND state = 'failed'"),
          "the snapshot run to fail", airflow)
    _wait(lambda: [a for a in _alerts(stack) if a[0] == "deadline_missed" and a[2] == "op_snapshot"],
          "the snapshot's deadline to come due after its failure", airflow, seconds=120)
    _wait(lambda: [a for a in _alerts(stack) if a[2] == "op_weather_catch_up"],
          "the catch-up run's deadline note", airflow)
    _wait(lambda: airflow.query("SELECT 1 FROM dag_run WHERE run_id IN ('op_weather_catch_up', 'op_migrate')"
                                " AND state = 'success' HAVING count(*) = 2"), "the runs in time to succeed", airflow)

    # The sensor was deferred and resumed by the trigger: one try, no reschedule.
    tries = dict(airflow.query("SELECT task_id, try_number FROM task_instance WHERE run_id = 'op_minute'"))
    assert tries == {"wait_for_minute_files": 1, "copy_to_bronze": 1, "load_to_silver": 1}
    # (Unpausing also created each DAG's latest scheduled run; the assertions look at this test's runs.)
    alerts = {(a[0], a[2]): a for a in _alerts(stack) if a[2].startswith("op_")}
    late = alerts[("deadline_missed", "op_minute")]
    assert late[3] is True and "late, state running" in late[5] and "keeps running" in late[5]
    catch_up = alerts[("deadline_missed", "op_weather_catch_up")]
    assert catch_up[3] is False and "created after its deadline" in catch_up[4]
    failure = alerts[("task_failure", "op_snapshot")]
    assert failure[3] is True and "pidb_mysql" in failure[5] and "Admin > Connections" in failure[5]
    assert "try 1 of" in failure[5]  # failed at once: no retry of a missing connection
    after_failure = alerts[("deadline_missed", "op_snapshot")]
    assert after_failure[3] is False and "had already failed" in after_failure[4]
    # Mails of this test's runs: exactly the late run and the failure, each with a plain-text part and links.
    mailed = {}
    for mail in inbox.messages:
        text = next(p.get_payload(decode=True).decode() for p in mail.walk() if p.get_content_type() == "text/plain")
        for run_id in ("op_minute", "op_weather_catch_up", "op_snapshot", "op_migrate"):
            if f"/runs/{run_id}" in text:
                mailed.setdefault(run_id, []).append(mail["Subject"])
    assert mailed == {"op_minute": ["[domotic] deadline missed: sensors_minutely"],
                      "op_snapshot": ["[domotic] task failed: mysql_snapshot_weekly.snapshot_pidb"]}
    # A run in time raises nothing (op_migrate); nothing else was alerted.
    assert {key for key in alerts} == {("deadline_missed", "op_minute"), ("deadline_missed", "op_weather_catch_up"),
                                       ("task_failure", "op_snapshot"), ("deadline_missed", "op_snapshot")}
