"""
### data_freshness: alert when Silver falls behind live sources, or Gold misses Silver days

Every 10 minutes: if the share received sensor files in the last `freshness_max_lag_minutes` (Variable,
default 20) but the newest file loaded into `silver.file_manifest` is older than that, the check fails with
`StaleDataError` and the failure alert (log, `ops.alerts`, e-mail) says how far behind Silver is. Silent
sources are reported in the log, not alerted on: the pipeline cannot be fresher than its sources.

`check_gold_coverage`: every UTC day holding current Silver rows must have Gold rows. A day missing from
Gold with no pending change in Gold's work ledger (`silver.gold_ledger`) fails the check with
`GoldCoverageError` naming the days; so do changes pending longer than `gold_max_pending_minutes` (Variable,
default 120: `gold_build` paused or failing). Days still pending are only logged.
See docs/runbook.md, "stale data" and "Gold misses a day".
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from domotic.freshness import tasks as freshness
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout


@dag(
    dag_id="data_freshness",
    description="Every 10 min (UTC): alert when Silver lags the live share or a Silver day is missing from Gold",
    schedule=CronTriggerTimetable("*/10 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2023, 8, 18, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ops", "alerts", "silver", "gold"],
    default_args=default_args(retries=2, retry_delay=timedelta(seconds=30)),
    owner_links=owner_links(),
    deadline=run_deadline("data_freshness", 10),
    doc_md=__doc__,
)
def data_freshness():
    # The wall clock is read here, at the task boundary, and passed down: the checks themselves take "now".
    @task(execution_timeout=task_timeout("freshness_check"))
    def check_sensor_freshness() -> dict:
        return freshness.run_check(now=pendulum.now("UTC"))

    @task(execution_timeout=task_timeout("freshness_check"))
    def check_gold_coverage() -> dict:
        return freshness.run_gold_coverage_check(now=pendulum.now("UTC"))

    check_sensor_freshness()
    check_gold_coverage()


data_freshness()
