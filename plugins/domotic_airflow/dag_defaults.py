"""Defaults every DAG of the repository shares: owner, retries with exponential backoff, the retry policy
that tells transient from permanent errors, the failure callback, the time one try of a task may take
(``execution_timeout``, ``TASK_TIMEOUTS``), and Deadline Alerts.

Kept here (not in dags/) so that the triggerer and workers import the same code, and so DAG files stay thin.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import (
    AsyncCallback,
    DeadlineAlert,
    DeadlineReference,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
)

from domotic.errors import PermanentError
from domotic.settings import env, env_flag

OWNER = "domotic-data"

# Transient infrastructure errors retry with backoff; errors that a retry cannot fix fail at once.
# Rules are evaluated in order; the first match wins. Anything unmatched falls back to plain retries.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception=PermanentError, action=RetryAction.FAIL,
                  reason="Permanent error (configuration, authentication or missing source): not retried"),
        RetryRule(exception="paramiko.ssh_exception.AuthenticationException", action=RetryAction.FAIL,
                  reason="SFTP authentication failed: fix the meteo_sftp connection"),
        RetryRule(exception="psycopg.errors.InvalidPassword", action=RetryAction.FAIL,
                  reason="Postgres authentication failed: fix the domotic_postgres connection"),
        RetryRule(exception="psycopg.errors.UndefinedTable", action=RetryAction.FAIL,
                  reason="A table is missing: run the schema task / check the deployment"),
        RetryRule(exception="psycopg.errors.SerializationFailure", action=RetryAction.RETRY,
                  retry_delay=timedelta(seconds=20), reason="Serialization failure: retry"),
        RetryRule(exception="psycopg.errors.DeadlockDetected", action=RetryAction.RETRY,
                  retry_delay=timedelta(seconds=20), reason="Deadlock: retry"),
        RetryRule(exception="psycopg.OperationalError", action=RetryAction.RETRY,
                  reason="Database unreachable or connection lost: retry with backoff"),
        RetryRule(exception=ConnectionError, action=RetryAction.RETRY, reason="Connection refused/reset: retry"),
        RetryRule(exception=TimeoutError, action=RetryAction.RETRY, reason="Timed out: retry"),
    ]
)


# How long one try of a task may run before Airflow stops it and the retry policy decides: every task has a
# bound, so a blocked read (a FIFO, a hung mount, a silent server) never holds a worker slot forever. Sized
# at ~10x what the work takes on the benchmark machine (docs/benchmarks.md), and under the DAG's
# dagrun_timeout. A task names its kind (``task_timeout``); anything else gets "default".
TASK_TIMEOUTS: dict[str, timedelta] = {
    "default": timedelta(minutes=30),  # listing, publishing, small checks
    "minute_wait": timedelta(minutes=9),  # sensors_minutely's sensor (its wait is bounded at 3 min; run: 10 min)
    "minute_load": timedelta(minutes=5),  # sensors_minutely: two files copied and loaded (~0.1 s)
    "sensor_chunk": timedelta(hours=1),  # sensors_daily: one chunk of hours (a day: ~1 s; a history day: ~10 s)
    "sftp_fetch": timedelta(hours=2),  # weather: a first run downloads the whole archive (~300 files)
    "weather_load": timedelta(hours=2),  # weather: ~10 s a file; a first run loads ~300
    "snapshot": timedelta(minutes=30),  # the weekly pidb snapshot (seconds)
    "gold_build": timedelta(hours=1),  # one transaction over the pending windows (a 70-day history: minutes)
    "quality_gate": timedelta(minutes=15),
    "freshness_check": timedelta(minutes=5),  # every 10 min: a try must end before the next run
    "compaction": timedelta(hours=4),  # a backlog of days to pack, each hashed twice
    "vacuum": timedelta(hours=4),
    "backup": timedelta(hours=5),  # pg_dump of the warehouse (the DAG's dagrun_timeout is 6 h)
    "disk_report": timedelta(minutes=20),
    "migrate": timedelta(minutes=30),
}


def task_timeout(kind: str) -> timedelta:
    """The ``execution_timeout`` of a kind of task (``TASK_TIMEOUTS``)."""
    return TASK_TIMEOUTS[kind]


def default_args(**overrides: object) -> dict:
    """Task defaults: retries with exponential backoff, the retry policy, the failure alert and the default
    ``execution_timeout`` (tasks of other kinds pass ``execution_timeout=task_timeout(kind)``)."""
    from domotic_airflow.alerts import AlertNotifier

    args: dict = {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": TASK_TIMEOUTS["default"],
        "retry_policy": RETRY_POLICY,
        # Called by Airflow only when the task has no retry left: log, ops.alerts and e-mail.
        "on_failure_callback": AlertNotifier(kind="task_failure"),
    }
    args.update(overrides)
    return args


def owner_links() -> dict[str, str]:
    """The owner's link in the DAG list: the runbook, when ``DOMOTIC_RUNBOOK_URL`` says where it is served (Airflow
    accepts only absolute http(s) or mailto links; ``make airflow`` serves the repository's docs/ locally)."""
    url = env("DOMOTIC_RUNBOOK_URL")
    return {OWNER: url} if url else {}


def maintenance_start():
    """start_date of the maintenance DAGs: the first day of the data DAGs (DOMOTIC_HISTORY_START); they never
    catch up, so no past run is ever queued."""
    import pendulum

    from domotic.settings import history_start

    first = history_start()
    return pendulum.datetime(first.year, first.month, first.day, tz="UTC")


def deadlines_enabled() -> bool:
    """Deadline Alerts crash ``dag.test()`` in Airflow 3.3.2 (apache/airflow#73428): switchable off."""
    return env_flag("DOMOTIC_DEADLINES_ENABLED")


def run_deadline(dag_id: str, minutes_after_queued: float, rule: str | None = None,
                 after_logical_date: bool = False) -> list[DeadlineAlert]:
    """A Deadline Alert: the run must finish within N minutes of being queued (env-overridable).

    ``DOMOTIC_DEADLINE_<DAG_ID>_MINUTES`` overrides the interval per DAG; environment variables are read at
    parse time on purpose (cheap, unlike Variables). Queued-at (not the logical date) is the reference so that
    backfill runs of past dates do not all miss their deadline at creation; a long backfill still queues runs
    that wait their turn, so missed deadlines of ``backfill__`` runs are logged and recorded in ops.alerts but
    not e-mailed. The callback runs in the triggerer (``AsyncCallback``) and raises an ``AlertNotifier`` alert.
    """
    if not deadlines_enabled():
        return []
    minutes = float(os.environ.get(f"DOMOTIC_DEADLINE_{dag_id.upper()}_MINUTES", minutes_after_queued))
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_LOGICAL_DATE if after_logical_date else DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=minutes),
            callback=AsyncCallback(
                "domotic_airflow.alerts.AlertNotifier",
                kwargs={"kind": "deadline_missed", "dag_id": dag_id,
                        "rule": rule or f"must finish within {minutes:g} min of being queued"},
            ),
            name=f"{dag_id}_late",
        )
    ]
